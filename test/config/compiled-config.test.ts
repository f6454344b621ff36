import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importCompiledConfig } from '../../src/config/compiled-config.js';
import { ROOT, ZDD_BIN } from '../cli/cli-harness.js';

/**
 * A config that needs only zdd's API and Node's built-ins is compiled once to plain ESM and imported
 * natively (src/config/compiled-config.ts); any other goes through jiti. Both must give the same
 * value, and the compiled path must really spare the command jiti.
 */
const root = mkdtempSync(join(tmpdir(), 'zdd-compiled-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function project(files: Record<string, string>): string {
  const dir = join(root, `p${n++}`);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Stands in for zdd's public API in-process (the built one is what the binary tests below use). */
const api = join(root, 'api.mjs');
writeFileSync(api, 'export const defineConfig = (c) => ({ ...c, defined: true });\nexport const VERSION = "test";\n');

const TYPESCRIPT_CONFIG = `
import { defineConfig, type ZddConfigInput } from 'zdd';
import type { Strategy } from 'zdd';
import { join } from 'node:path';
import os from 'os';
enum Size { Small = 1, Large = 4 }
interface Extra { note: string }
const extra: Extra = { note: 'typed' } satisfies Extra;
const steps = [{ weight: 20 }, { weight: 100 }] as const;
function replicas<T extends number>(n: T): T { return n; }
const fromAwait: string = await Promise.resolve('awaited');
let unused: Strategy | undefined;
export default defineConfig({
  service: 'compiled-' + fromAwait,
  provider: { type: 'local', command: 'node app.mjs', port: Number(process.env.ZDD_TEST_PORT ?? 8080) },
  replicas: replicas(Size.Large),
  strategies: { canary: { steps: steps.map((s) => ({ ...s })) } },
  hooks: { preDeploy: join('a', 'b') + ':' + typeof os.cpus },
  extra: extra!.note,
} as ZddConfigInput & { extra: string });
`;

async function viaJiti(file: string): Promise<unknown> {
  const { createJiti } = await import('jiti');
  const jiti = createJiti(import.meta.url, { alias: { zdd: api }, interopDefault: true, moduleCache: false, fsCache: false });
  return jiti.import(file, { default: true });
}

describe('compiling a config to plain ESM', () => {
  it('gives the value jiti gives for TypeScript that needs only zdd and Node built-ins, and keeps it in the cache', async () => {
    const dir = project({ 'deploy.config.ts': TYPESCRIPT_CONFIG });
    const file = join(dir, 'deploy.config.ts');
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    const compiled = await importCompiledConfig(file, readFileSync(file, 'utf8'), cache, api);
    expect(compiled).toBeDefined();
    expect(compiled!.value).toEqual(await viaJiti(file));
    expect(compiled!.value).toMatchObject({ service: 'compiled-awaited', replicas: 4, defined: true, extra: 'typed' });
    const written = readdirSync(cache);
    expect(written).toHaveLength(1);
    expect(statSync(join(cache, written[0]!)).mode & 0o777).toBe(0o600);
    // zdd's API is named by this installation's absolute URL, not resolved from the cache folder
    expect(readFileSync(join(cache, written[0]!), 'utf8')).toContain(`from "file://${api}"`);
  });

  it('runs the config again at each load, and compiles an edited config anew in place of the old one', async () => {
    const dir = project({ 'deploy.config.mjs': 'globalThis.__zddLoads = (globalThis.__zddLoads ?? 0) + 1;\nexport default { service: "a", loads: globalThis.__zddLoads };\n' });
    const file = join(dir, 'deploy.config.mjs');
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    const first = await importCompiledConfig(file, readFileSync(file, 'utf8'), cache, api);
    const second = await importCompiledConfig(file, readFileSync(file, 'utf8'), cache, api);
    expect((second!.value as { loads: number }).loads).toBe((first!.value as { loads: number }).loads + 1);
    expect(readdirSync(cache)).toHaveLength(1);
    writeFileSync(file, 'export default { service: "b" };\n');
    expect((await importCompiledConfig(file, readFileSync(file, 'utf8'), cache, api))!.value).toEqual({ service: 'b' });
    // the earlier version's entry is gone; another config's stays
    const other = join(dir, 'other.config.mjs');
    writeFileSync(other, 'export default { service: "c" };\n');
    await importCompiledConfig(other, readFileSync(other, 'utf8'), cache, api);
    expect(readdirSync(cache)).toHaveLength(2);
    writeFileSync(file, 'export default { service: "d" };\n');
    expect((await importCompiledConfig(file, readFileSync(file, 'utf8'), cache, api))!.value).toEqual({ service: 'd' });
    expect(readdirSync(cache).sort()).toEqual([expect.stringMatching(/^deploy\.config\.mjs\./), expect.stringMatching(/^other\.config\.mjs\./)]);
  });

  it.each([
    ['imports another file', `import { port } from './port.ts';\nexport default { service: 'x', port };`],
    ['imports a package', `import { z } from 'zod';\nexport default { service: 'x', z: typeof z };`],
    ['reads import.meta', `export default { service: 'x', dir: import.meta.dirname };`],
    ['imports dynamically', `const m = await import('node:path');\nexport default { service: 'x', sep: m.sep };`],
    ['uses require', `const p = require('node:path');\nexport default { service: 'x', sep: p.sep };`],
    ['uses __dirname', `export default { service: 'x', dir: __dirname };`],
  ])('leaves a config that %s to jiti (resolved from its own folder), and writes nothing', async (_what, source) => {
    const dir = project({ 'deploy.config.ts': source, 'port.ts': 'export const port = 1;' });
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    expect(await importCompiledConfig(join(dir, 'deploy.config.ts'), source, cache, api)).toBeUndefined();
    expect(readdirSync(cache)).toEqual([]);
  });

  it('leaves a config that does not compile to jiti, which names the error', async () => {
    const source = 'export default { service: "x", ;';
    const dir = project({ 'deploy.config.ts': source });
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    expect(await importCompiledConfig(join(dir, 'deploy.config.ts'), source, cache, api)).toBeUndefined();
    expect(readdirSync(cache)).toEqual([]);
  });

  it('lets the config\'s own error through', async () => {
    const source = 'const port: number = 1;\nthrow new Error(`no port ${port}`);\n';
    const dir = project({ 'deploy.config.ts': source });
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    await expect(importCompiledConfig(join(dir, 'deploy.config.ts'), source, cache, api)).rejects.toThrow('no port 1');
  });
});

describe('the built zdd with a compiled config', () => {
  const imports = (home: string, cwd: string, args: string[]) => {
    mkdirSync(home, { recursive: true });
    const log = join(home, `imports-${n++}.log`);
    writeFileSync(log, '');
    const r = spawnSync(process.execPath, ['--import', join(ROOT, 'test/cli/record-imports.mjs'), ZDD_BIN, ...args, '--no-color'], {
      cwd,
      env: { ...process.env, XDG_CACHE_HOME: home, ZDD_IMPORT_LOG: log },
      encoding: 'utf8',
    });
    return { ...r, imports: readFileSync(log, 'utf8') };
  };

  it('loads neither jiti nor the compiler once the config is compiled, and sees an edit at once', () => {
    const home = join(root, 'home');
    const dir = project({
      'deploy.config.ts': `import { defineConfig } from 'zdd';\nconst port: number = 8080;\nexport default defineConfig({ service: 'compiled', provider: { type: 'local', command: 'node app.mjs', port } });\n`,
    });
    const first = imports(home, dir, ['validate']);
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(first.imports).toMatch(/sucrase/);
    const cacheDir = join(home, 'zdd', 'configs');
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(cacheDir).filter((f) => f.startsWith('deploy.config.ts.'))).toHaveLength(1);

    const second = imports(home, dir, ['validate']);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('service compiled');
    expect(second.imports).not.toMatch(/jiti|sucrase|es-module-lexer/);

    writeFileSync(join(dir, 'deploy.config.ts'), readFileSync(join(dir, 'deploy.config.ts'), 'utf8').replace("'compiled'", "'edited'"));
    const third = imports(home, dir, ['validate']);
    expect(third.stdout).toContain('service edited');
  });

  it('still reads a config that imports its own helper file, through jiti', () => {
    const home = join(root, 'home2');
    const dir = project({
      'ports.ts': 'export const port: number = 8081;\n',
      'deploy.config.ts': `import { defineConfig } from 'zdd';\nimport { port } from './ports.ts';\nexport default defineConfig({ service: 'helper', provider: { type: 'local', command: 'node app.mjs', port } });\n`,
    });
    const r = imports(home, dir, ['validate']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('service helper');
    expect(r.imports).toMatch(/jiti/);
  });
});
