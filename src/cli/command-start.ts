import { systemClock, type Clock } from '../core/clock.js';
import { UsageError } from '../core/errors.js';
import type { Strategy } from '../core/strategy.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { BUILT_IN_STRATEGIES, FLAG_STRATEGIES, RECORD_STRATEGIES } from '../../strategies/index.js';
import type { GlobalOptions } from './main.js';

/** What every command starts from, its clock, its config and its strategies, without loading the engine or a provider. */

let installedClock: Clock | null = null;

/**
 * The clock commands use: the system clock. No environment variable or flag changes it, so a
 * production environment can never skip a bake by accident; only code running inside the process
 * can, through installCommandClock.
 */
export function commandClock(): Clock {
  return installedClock ?? systemClock;
}

/**
 * Test hook: every command in this process uses `clock`. The test suite preloads
 * test/cli/fast-clock.mjs (`node --import`) to drive the built binary through bakes in no real time.
 */
export function installCommandClock(clock: Clock): void {
  installedClock = clock;
}

export async function loadCommandConfig(globals: GlobalOptions): Promise<LoadedConfig> {
  return loadConfig({ configPath: globals.config, cwd: process.cwd(), env: globals.env });
}

/** A strategy by name: config plugins, built-ins, and those only records name (resuming a restore). */
export function resolveStrategy(loaded: LoadedConfig, name: string): Strategy {
  const plugins = loaded.config.strategies?.plugins ?? {};
  const s = plugins[name] ?? BUILT_IN_STRATEGIES[name] ?? FLAG_STRATEGIES[name] ?? RECORD_STRATEGIES[name];
  if (!s) {
    const known = [...Object.keys(BUILT_IN_STRATEGIES), ...(loaded.config.flags ? Object.keys(FLAG_STRATEGIES) : []), ...Object.keys(plugins)];
    throw new UsageError(`Unknown strategy "${name}"`, `Use one of: ${known.join(', ')} (plugins come from strategies.plugins in the config).`);
  }
  return s;
}

export function defaultStrategy(loaded: LoadedConfig): string {
  return loaded.config.strategies?.default ?? 'canary';
}
