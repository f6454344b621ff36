import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { UsageError } from '../core/errors.js';
import type { Strategy } from '../core/strategy.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { maskOutput } from './output-mask.js';
import { BUILT_IN_STRATEGIES, FLAG_STRATEGIES, RECORD_STRATEGIES } from '../../strategies/index.js';
import type { GlobalOptions } from './main.js';
import type { CommandIO } from './run-cli-command.js';

export { maskOutput } from './output-mask.js';

/**
 * What every command does first: its clock, its config (with the config's secrets masked in the
 * command's output) and its strategy, without loading the engine, a provider or a state store.
 * Kept apart from context.ts so that `zdd rollback`, `zdd abort`, `zdd flag kill` and `zdd validate`
 * start without loading any of that.
 */

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

/** The config, with every secret it carries masked in the command's output from here on (every command loads it this way). */
export async function loadCommandConfig(globals: GlobalOptions, io: CommandIO): Promise<LoadedConfig> {
  const loaded = await loadConfig({ configPath: globals.config, cwd: process.cwd(), env: globals.env });
  maskOutput(loaded, io);
  return loaded;
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
