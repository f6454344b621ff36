import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CosmiconfigResult, Loader } from 'cosmiconfig';
import { ConfigError, UsageError, errorMessage } from '../core/errors.js';
import { importCompiledConfig } from './compiled-config.js';
import { compiledConfigDir, transpileCacheDir } from './transpile-cache.js';

/**
 * Finding and reading the config file, and merging an environment's overrides: everything before
 * the schema. Kept apart from load-config.ts (the schema) so that `zdd flag kill` reads its file
 * without building the whole config schema first (src/config/flags-section.ts).
 */

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


/**
 * Where the running zdd's public API lives, so `import … from 'zdd'` in a config gets this very copy:
 * dist/src/index.js beside dist/src/config/, or the bundle's own index.js entry next to its chunks
 * (dist/bundle/, see scripts/bundle.mjs).
 */
const ZDD_PUBLIC_API = fileURLToPath(new URL(/\/dist\/bundle\/[^/]+$/.test(import.meta.url) ? './index.js' : '../index.js', import.meta.url));

const BUILT = existsSync(ZDD_PUBLIC_API);

/**
 * jiti and cosmiconfig are CommonJS packages: loaded through require they skip the ESM loader's
 * parse of their sources for export names (about a third of their load time on every command).
 */
const requireCjs = createRequire(import.meta.url);

const loadModule: Loader = async (filepath, content) => {
  // Built zdd only: run from its TypeScript sources (the unit tests), the public API is a .ts file
  // that only jiti resolves.
  const compiledDir = BUILT ? compiledConfigDir() : undefined;
  if (compiledDir) {
    const compiled = await importCompiledConfig(filepath, content ?? (await readFile(filepath, 'utf8')), compiledDir, ZDD_PUBLIC_API);
    if (compiled) return compiled.value;
  }
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


export async function readConfigFile(opts: { configPath?: string; cwd: string }): Promise<{ path: string; value: unknown }> {
  let result: CosmiconfigResult;
  if (opts.configPath) {
    const path = resolve(opts.cwd, opts.configPath);
    if (!existsSync(path)) throw new UsageError(`Config file ${path} does not exist`, 'Check the --config path, or run `zdd init` to write one.');
    try {
      const direct = await readDirectly(path);
      result = direct === COSMICONFIG ? await configExplorer().load(path) : direct;
    } catch (e) {
      throw new ConfigError([{ path: '', message: `could not be loaded: ${errorMessage(e)}` }], path);
    }
  } else {
    try {
      result = await searchDirectly(opts.cwd);
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

/**
 * The reader of record for every case the direct path below leaves to it: YAML, package.json, a
 * JSON file that does not parse (its messages), `$import`, a cosmiconfig meta config. A value a
 * module config already produced is handed over instead of running the config a second time.
 */
function configExplorer(preloaded?: { path: string; value: unknown }) {
  const { cosmiconfig } = requireCjs('cosmiconfig') as typeof import('cosmiconfig');
  const load: Loader = (filepath, content) => (preloaded && filepath === preloaded.path ? preloaded.value : loadModule(filepath, content));
  return cosmiconfig('zdd', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'none',
    packageProp: 'zdd',
    cache: false,
    loaders: { '.ts': load, '.mts': load, '.js': load, '.mjs': load, '.cjs': load },
  });
}

/** "Ask cosmiconfig": what the direct readers answer for a case they leave to it. */
const COSMICONFIG = Symbol('cosmiconfig');
const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs', '.cjs']);
/** cosmiconfig's own meta config files (read only by a search: they may add search places). */
const COSMICONFIG_META = ['.config/config.json', '.config/config.yaml', '.config/config.yml', '.config/config.js', '.config/config.ts', '.config/config.cjs', '.config/config.mjs'];

/**
 * What cosmiconfig's `load(path)` gives for a TypeScript/JavaScript or JSON config, read here
 * instead: cosmiconfig and its dependencies cost every command more to load than reading the file
 * (about 30 ms of CPU at rest, a tenth of `zdd validate`), and its meta config search reads
 * package.json through a JSON parser that loads Babel's code frame. Same results, same errors:
 * empty file → empty, `null` → nothing; anything else is COSMICONFIG.
 */
async function readDirectly(path: string, content?: string): Promise<CosmiconfigResult | typeof COSMICONFIG> {
  const ext = extname(path);
  const json = ext === '.json' && basename(path) !== 'package.json';
  if (!json && !MODULE_EXTENSIONS.has(ext)) return COSMICONFIG;
  content ??= await readFile(path, 'utf8');
  if (content.trim() === '') return { filepath: path, config: undefined, isEmpty: true };
  let config: unknown;
  if (json) {
    try {
      config = JSON.parse(content);
    } catch {
      return COSMICONFIG;
    }
  } else {
    config = await loadModule(path, content);
  }
  if (config && Object.prototype.hasOwnProperty.call(config, '$import')) return json ? COSMICONFIG : configExplorer({ path, value: config }).load(path);
  if (config === null) return null;
  if (config === undefined) return { filepath: path, config: undefined, isEmpty: true };
  return { filepath: path, config };
}

/** cosmiconfig's `search(cwd)` (this directory only), with the first file that exists read by readDirectly. */
async function searchDirectly(cwd: string): Promise<CosmiconfigResult> {
  const dir = resolve(cwd);
  if (cosmiconfigMetaConfig()) return configExplorer().search(dir);
  for (const place of SEARCH_PLACES) {
    const path = join(dir, place);
    let content: string;
    try {
      content = await readFile(path, 'utf8');
    } catch (e) {
      if (['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES'].includes((e as NodeJS.ErrnoException).code ?? '')) continue;
      throw e;
    }
    const direct = await readDirectly(path, content);
    // From here on the search is cosmiconfig's own, from this place on (the ones before it are absent or empty).
    if (direct === COSMICONFIG) return configExplorer().search(dir);
    if (direct !== null && !direct.isEmpty) return direct;
  }
  return null;
}

/**
 * Whether cosmiconfig would find a meta config (`.config/config.*` in the process's directory, which
 * may add search places): then the search is its own. (Its other meta place, a "cosmiconfig" key in
 * package.json or package.yaml, is never applied by cosmiconfig 9: the key is looked up twice.)
 */
function cosmiconfigMetaConfig(): boolean {
  return COSMICONFIG_META.some((place) => existsSync(join(process.cwd(), place)));
}

/**
 * The config value with `--env`'s overrides merged in. An unknown environment is a usage error
 * naming those that exist. (Every environment is validated on its own by validateConfig.)
 */
export function withEnvironment(base: Record<string, unknown>, env: string | undefined): Record<string, unknown> {
  if (env === undefined) return base;
  const envs = base.environments;
  const available = envs && typeof envs === 'object' ? Object.keys(envs) : [];
  if (!available.includes(env)) {
    throw new UsageError(
      `Environment "${env}" is not defined in the config`,
      available.length ? `Use one of: ${available.join(', ')}` : 'Add it under `environments` in the config, or drop --env.',
    );
  }
  return deepMerge(base, (envs as Record<string, Record<string, unknown>>)[env]);
}

/** The config's own keys, without `$schema` (a JSON or YAML config may name its JSON Schema for editors; zdd ignores it). */
export function configBody(value: unknown, source: string | undefined): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError([{ path: '', message: 'must export an object (use `export default defineConfig({ … })`)' }], source);
  }
  const { $schema: _schema, ...base } = value as Record<string, unknown>;
  return base;
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
