import { dirname } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { flagsSchema, type FlagsConfig } from '../flags/schema.js';
import { formatZodIssues } from './format-issues.js';
import { configBody, readConfigFile, withEnvironment } from './read-config.js';

/** The `flags` section of the config, validated on its own, and the file's value for the whole validation later. */
export interface FlagsSection {
  /** Undefined when the config has no `flags` section. */
  flags: FlagsConfig | undefined;
  /** The config with the environment merged in, not validated: its secrets are masked from the start. */
  effective: Record<string, unknown>;
  raw: { path: string; value: unknown };
  configDir: string;
}


/**
 * What `zdd flag kill` needs before its one write: the config file read once and its `flags` section
 * (with `--env`'s overrides) checked against the flags schema alone, a fraction of the whole
 * schema's cost. A bad `flags` section is a config error (exit 2, nothing changed) as always; the
 * rest of the config is validated after the kill (configFrom, with the value read here), so that a
 * mistake elsewhere in the file cannot hold up the kill switch during an incident.
 */
export async function loadFlagsSection(opts: { configPath?: string; cwd: string; env?: string }): Promise<FlagsSection> {
  const raw = await readConfigFile(opts);
  const effective = withEnvironment(configBody(raw.value, raw.path), opts.env);
  const base = { raw, effective, configDir: dirname(raw.path) };
  if (effective.flags === undefined) return { ...base, flags: undefined };
  const parsed = flagsSchema.safeParse(effective.flags);
  if (!parsed.success) {
    const where = opts.env === undefined ? 'flags' : `environments.${opts.env}.flags`; // as validateConfig names an environment's issues
    throw new ConfigError(
      formatZodIssues(parsed.error.issues, flagsSchema, effective.flags).map((i) => ({ ...i, path: i.path ? `${where}.${i.path}` : where })),
      raw.path,
    );
  }
  return { ...base, flags: parsed.data };
}
