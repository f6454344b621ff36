import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * A TypeScript or ESM config that needs nothing but zdd's public API and Node's built-in modules,
 * compiled once to a plain ES module keyed by its content and imported natively from then on: the
 * commands an incident or a CI run waits on (`zdd rollback`, `zdd validate`, `zdd flag kill`) no
 * longer load jiti and its Babel on every run (about a quarter of `zdd validate`'s time).
 *
 * Any other config (one that imports another file or a package, reads `import.meta`, uses
 * `require`/`__dirname`, or does not compile here) is not cached: `undefined` tells the caller to
 * load it through jiti as before, which resolves those relative to the config's own folder.
 */

/** Bumped when the compiled form changes, so older entries are never imported. */
const FORMAT = 'zdd-compiled-config-1';
const COMPILED_EXTENSIONS = new Set(['.ts', '.mts', '.mjs']);
/** Names a config evaluated from another folder would resolve differently, or that plain ESM lacks. */
const NEEDS_ITS_OWN_FOLDER = /\b(?:require\s*\(|require\.resolve|__dirname|__filename|module\.exports|exports\.)/;
const builtins = new Set(builtinModules);
const requireCjs = createRequire(import.meta.url);
/** One module instance per load, as jiti (moduleCache off) gives: a second load runs the config again. */
let loads = 0;

/**
 * The config module's default export (or its namespace when it has none), or undefined when this
 * config is one to leave to jiti. `cacheDir` is a folder only this user can write
 * (src/config/transpile-cache.ts); `publicApi` is the file `import … from 'zdd'` must reach.
 */
export async function importCompiledConfig(filepath: string, source: string, cacheDir: string, publicApi: string): Promise<{ value: unknown } | undefined> {
  if (!COMPILED_EXTENSIONS.has(extname(filepath)) || NEEDS_ITS_OWN_FOLDER.test(source)) return undefined;
  // One name per config file (its path's hash), then its content's: an edit replaces the entry.
  const prefix = `${basename(filepath).replace(/[^\w.-]/g, '_')}.${hash(`${FORMAT}\0${publicApi}\0${filepath}`, 12)}.`;
  const compiled = join(cacheDir, `${prefix}${hash(source, 24)}.mjs`);
  if (!existsSync(compiled)) {
    const code = await compile(filepath, source, publicApi);
    if (code === undefined || !writeAtomically(compiled, code)) return undefined;
    pruneOlder(cacheDir, prefix, compiled);
  }
  let ns: Record<string, unknown>;
  try {
    ns = (await import(`${pathToFileURL(compiled).href}?load=${++loads}`)) as Record<string, unknown>;
  } catch (e) {
    // Pruned by a command that met a newer version of the config between our look and the import.
    if (!existsSync(compiled)) return undefined;
    throw e;
  }
  return { value: 'default' in ns ? ns.default : ns };
}

function hash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** The entries of earlier versions of this config file (best effort: a leftover costs only disk). */
function pruneOlder(cacheDir: string, prefix: string, keep: string): void {
  try {
    for (const name of readdirSync(cacheDir)) {
      if (name.startsWith(prefix) && name.endsWith('.mjs') && join(cacheDir, name) !== keep) rmSync(join(cacheDir, name), { force: true });
    }
  } catch {
    // a folder we cannot list: nothing to prune
  }
}

/**
 * Types stripped (Sucrase: TypeScript syntax only, the rest of the module as written), then every
 * import checked (es-module-lexer) and `zdd` pointed at this installation's public API. Both load
 * only here, on a config's first run.
 */
async function compile(filepath: string, source: string, publicApi: string): Promise<string | undefined> {
  let code = source;
  if (extname(filepath) !== '.mjs') {
    const { transform } = requireCjs('sucrase') as typeof import('sucrase');
    try {
      code = transform(source, { transforms: ['typescript'], filePath: filepath, disableESTransforms: true }).code;
    } catch {
      return undefined; // jiti reports the syntax error its own way
    }
  }
  const lexer = await import('es-module-lexer');
  await lexer.init;
  let imports: readonly import('es-module-lexer').ImportSpecifier[];
  try {
    [imports] = lexer.parse(code, filepath);
  } catch {
    return undefined;
  }
  const api = JSON.stringify(pathToFileURL(publicApi).href);
  let out = '';
  let at = 0;
  for (const spec of imports) {
    if (spec.d !== -1 || spec.n === undefined) return undefined; // import.meta or a dynamic import()
    if (spec.n === 'zdd') {
      // spec.s..spec.e is the specifier without its quotes
      out += code.slice(at, spec.s - 1) + api;
      at = spec.e + 1;
    } else if (!(spec.n.startsWith('node:') || builtins.has(spec.n))) {
      return undefined; // another file or package: resolved from the config's folder by jiti
    }
  }
  return `${out}${code.slice(at)}\n// ${FORMAT} from ${filepath}\n`;
}

/**
 * Written beside its final name and renamed, so a command running at the same time imports a whole
 * file or none. False when it cannot be written (a full disk): the config then goes through jiti.
 */
function writeAtomically(path: string, code: string): boolean {
  const next = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(next, code, { mode: 0o600 });
    renameSync(next, path);
    return true;
  } catch {
    rmSync(next, { force: true });
    return false;
  }
}
