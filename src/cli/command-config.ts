import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { configSecrets, type SecretMask } from '../core/secret-mask.js';
import type { GlobalOptions } from './main.js';
import type { CommandIO } from './run-cli-command.js';

/**
 * What every command does first: load the config and mask its secrets in the command's output.
 * Kept apart from context.ts (which wires the engine, providers and state) so that a command that
 * needs only the config, `zdd flag kill` above all, starts without loading any of that.
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

const masks = new WeakMap<LoadedConfig, SecretMask>();

/**
 * Promise 12, the one place output masking is set up: secrets the config carries (header values,
 * env, env-built commands, credentials in URLs, the flag token) are masked in every event, message
 * and log line of the command from here on. Returns the mask (records are masked with it too).
 */
export function maskOutput(loaded: LoadedConfig, io: CommandIO): SecretMask {
  let secrets = masks.get(loaded);
  if (!secrets) masks.set(loaded, (secrets = configSecrets(loaded.config)));
  io.bus.maskWith(secrets);
  return secrets;
}

