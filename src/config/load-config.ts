import { dirname } from 'node:path';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { configSchema, type ZddConfig } from './schema.js';
import { formatZodIssues } from './format-issues.js';
import { crossFieldIssues } from './cross-field-rules.js';
import { normaliseStrategySections } from './strategy-sections.js';
import { configBody, deepMerge, readConfigFile, withEnvironment } from './read-config.js';

export { SEARCH_PLACES, deepMerge, readConfigFile } from './read-config.js';

export interface LoadedConfig {
  /** Validated config with the chosen environment merged in. */
  config: ZddConfig;
  configPath: string;
  configDir: string;
  env?: string;
}


/**
 * Finds, loads and validates the config, once: parse → merge the environment → schema →
 * normalise (plugin strategies' own schemas) → cross-field rules, collecting every problem. Throws ConfigError (exit 2) listing all of them.
 */
export async function loadConfig(opts: { configPath?: string; cwd: string; env?: string }): Promise<LoadedConfig> {
  return configFrom(await readConfigFile(opts), opts.env);
}

/** A config file's value (readConfigFile's answer), validated: what loadConfig gives, without reading the file again. */
export function configFrom(raw: { path: string; value: unknown }, env: string | undefined): LoadedConfig {
  const config = validateConfig(raw.value, { env, source: raw.path });
  return { config, configPath: raw.path, configDir: dirname(raw.path), env };
}

/** Validate a config value (already loaded). Exported for tests and `zdd validate`. */
export function validateConfig(value: unknown, opts: { env?: string; source?: string } = {}): ZddConfig {
  const base = configBody(value, opts.source);
  const effective = withEnvironment(base, opts.env);
  const envs = base.environments;
  const issues: ConfigIssue[] = [];

  const parsed = configSchema.safeParse(base);
  if (!parsed.success) issues.push(...formatZodIssues(parsed.error.issues, configSchema, base));
  // Each parse result is kept: the effective config below is one of them (a parse costs a command
  // tens of milliseconds of CPU, more than the rest of validation together).
  let effectiveParsed = opts.env === undefined && parsed.success ? parsed.data : undefined;

  // Every environment must produce a valid config too: a typo in `staging` should not wait for the staging deploy.
  if (envs && typeof envs === 'object' && !Array.isArray(envs)) {
    for (const [name, overrides] of Object.entries(envs as Record<string, unknown>)) {
      if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) continue;
      if ('environments' in (overrides as object)) {
        issues.push({ path: `environments.${name}.environments`, message: 'environments cannot be nested' });
        continue;
      }
      const merged = deepMerge(base, overrides as Record<string, unknown>);
      const r = configSchema.safeParse(merged);
      if (r.success && name === opts.env) effectiveParsed = r.data;
      if (!r.success) {
        const own = formatZodIssues(r.error.issues, configSchema, merged).filter((i) => !issues.some((b) => b.path === i.path && b.message === i.message));
        issues.push(...own.map((i) => ({ path: `environments.${name}.${i.path}`, message: i.message })));
      }
    }
  }

  if (issues.length) throw new ConfigError(issues, opts.source);

  const normalised = normaliseStrategySections(effectiveParsed ?? configSchema.parse(effective));
  if (normalised.issues.length) throw new ConfigError(normalised.issues, opts.source);
  const rules = crossFieldIssues(normalised.config);
  if (rules.length) throw new ConfigError(rules, opts.source);
  return normalised.config;
}

