import { systemClock, type Clock } from '../core/clock.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import type { GlobalOptions } from './main.js';

/** What every command starts from, its clock and its config, without loading the engine or a provider. */

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
