import type { LoadedConfig } from '../config/load-config.js';
import { configSecrets, type SecretMask } from '../core/secret-mask.js';
import type { CommandIO } from './run-cli-command.js';

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

/**
 * The same masking for a config value not validated yet (`zdd flag kill` before its write: see
 * src/config/flags-section.ts): every secret the file's value carries. maskOutput replaces it once
 * the whole config is validated.
 */
export function maskUnvalidated(value: Record<string, unknown>, io: CommandIO): void {
  io.bus.maskWith(configSecrets(value));
}
