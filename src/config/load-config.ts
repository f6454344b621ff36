import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Loader } from 'cosmiconfig';
import { z } from 'zod';
import { ConfigError, UsageError, errorMessage, type ConfigIssue } from '../core/errors.js';
import { configSchema, type ZddConfig } from './schema.js';
import { formatZodIssues } from './format-issues.js';
import { crossFieldIssues } from './cross-field-rules.js';
import { normaliseStrategySections } from './strategy-sections.js';
import { transpileCacheDir } from './transpile-cache.js';

export const SEARCH_PLACES = [
  'deploy.config.ts',
  'deploy.config.mts',
  'deploy.config.js',
  'deploy.config.mjs',
  'deploy.config.cjs',
  'deploy.config.json',
  'deploy.config.yaml',
  'deploy.config.yml',
  'package.json',
];

export interface LoadedConfig {
  /** Validated config with the chosen environment merged in. */
  config: ZddConfig;
  configPath: string;
  configDir: string;
  env?: string;
}

/**
 * Where the running zdd's public API lives, so `import … from 'zdd'` in a config gets this very copy:
 * dist/src/index.js beside dist/src/config/, or the bundle's own index.js entry next to its chunks
 * (dist/bundle/, see scripts/bundle.mjs).
 */
const ZDD_PUBLIC_API = fileURLToPath(new URL(/\/dist\/bundle\/[^/]+$/.test(import.meta.url) ? './index.js' : '../index.js', import.meta.url));

/**
 * jiti and cosmiconfig are CommonJS packages: loaded through require they skip the ESM loader's
 * parse of their sources for export names (about a third of their load time on every command).
 */
const requireCjs = createRequire(import.meta.url);

// A command validates its config once: zod's compiled fast path (`new Function` per object schema)
// costs more to build than it saves on a single parse.
z.config({ jitless: true });

const loadModule: Loader = async (filepath) => {
  const { createJiti } = requireCjs('jiti') as typeof import('jiti');
  const jiti = createJiti(import.meta.url, {
    alias: { zdd: ZDD_PUBLIC_API },
    interopDefault: true,
    moduleCache: false,
    // The transpiled config, keyed by its path and checked against its content's hash: a config
    // transpiles once, not at every command.
    fsCache: transpileCacheDir() ?? false,
  });
  return jiti.import(filepath, { default: true });
};

/**
 * Finds, loads and validates the config, once: parse → merge the environment → schema →
 * normalise (plugin strategies' own schemas) → cross-field rules, collecting every problem. Throws ConfigError (exit 2) listing all of them.
 */
export async function loadConfig(opts: { configPath?: string; cwd: string; env?: string }): Promise<LoadedConfig> {
  const raw = await readConfigFile(opts);
  const config = validateConfig(raw.value, { env: opts.env, source: raw.path });
  return { config, configPath: raw.path, configDir: dirname(raw.path), env: opts.env };
}

export async function readConfigFile(opts: { configPath?: string; cwd: string }): Promise<{ path: string; value: unknown }> {
  const { cosmiconfig } = requireCjs('cosmiconfig') as typeof import('cosmiconfig');
  const explorer = cosmiconfig('zdd', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'none',
    packageProp: 'zdd',
    cache: false,
    loaders: { '.ts': loadModule, '.mts': loadModule, '.js': loadModule, '.mjs': loadModule, '.cjs': loadModule },
  });
  let result;
  if (opts.configPath) {
    const path = resolve(opts.cwd, opts.configPath);
    if (!existsSync(path)) throw new UsageError(`Config file ${path} does not exist`, 'Check the --config path, or run `zdd init` to write one.');
    try {
      result = await explorer.load(path);
    } catch (e) {
      throw new ConfigError([{ path: '', message: `could not be loaded: ${errorMessage(e)}` }], path);
    }
  } else {
    try {
      result = await explorer.search(opts.cwd);
    } catch (e) {
      throw new ConfigError([{ path: '', message: `could not be loaded: ${errorMessage(e)}` }], opts.cwd);
    }
  }
  if (!result || result.isEmpty) {
    throw new UsageError(
      `No zdd config found in ${opts.cwd} (looked for ${SEARCH_PLACES.slice(0, -1).join(', ')} and a "zdd" key in package.json)`,
      'Run `zdd init` to write one, or pass --config <path>.',
    );
  }
  let value = result.config;
  if (typeof value === 'function') value = await value();
  return { path: result.filepath, value };
}

/** Validate a config value (already loaded). Exported for tests and `zdd validate`. */
export function validateConfig(value: unknown, opts: { env?: string; source?: string } = {}): ZddConfig {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError([{ path: '', message: 'must export an object (use `export default defineConfig({ … })`)' }], opts.source);
  }
  const issues: ConfigIssue[] = [];
  // A JSON or YAML config may name its JSON Schema (`zdd schema`) for editors; zdd itself ignores it.
  const { $schema: _schema, ...base } = value as Record<string, unknown>;
  const envs = base.environments;

  if (opts.env !== undefined) {
    const available = envs && typeof envs === 'object' ? Object.keys(envs) : [];
    if (!available.includes(opts.env)) {
      throw new UsageError(
        `Environment "${opts.env}" is not defined in the config`,
        available.length ? `Use one of: ${available.join(', ')}` : 'Add it under `environments` in the config, or drop --env.',
      );
    }
  }

  const parsed = configSchema.safeParse(base);
  if (!parsed.success) issues.push(...formatZodIssues(parsed.error.issues, configSchema, base));

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
      if (!r.success) {
        const own = formatZodIssues(r.error.issues, configSchema, merged).filter((i) => !issues.some((b) => b.path === i.path && b.message === i.message));
        issues.push(...own.map((i) => ({ path: `environments.${name}.${i.path}`, message: i.message })));
      }
    }
  }

  if (issues.length) throw new ConfigError(issues, opts.source);

  const effective = opts.env !== undefined ? deepMerge(base, (envs as Record<string, Record<string, unknown>>)[opts.env]) : base;
  const normalised = normaliseStrategySections(configSchema.parse(effective));
  if (normalised.issues.length) throw new ConfigError(normalised.issues, opts.source);
  const rules = crossFieldIssues(normalised.config);
  if (rules.length) throw new ConfigError(rules, opts.source);
  return normalised.config;
}

/** Objects merge key by key; arrays and everything else are replaced. Functions are kept as they are. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (isPlainObject(v) && isPlainObject(b)) out[k] = deepMerge(b, v);
    else out[k] = v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}
