import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/load-config.js';
import { ConfigError, UsageError } from '../../src/core/errors.js';
import { ROOT, ZDD_BIN } from '../cli/cli-harness.js';

/**
 * Config files are read without cosmiconfig where zdd can read them itself (TypeScript/JavaScript
 * through jiti, JSON); cosmiconfig still reads the rest. The answers must be cosmiconfig's.
 */
const root = mkdtempSync(join(tmpdir(), 'zdd-config-files-'));
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
const json = (v: unknown) => JSON.stringify(v);

describe('finding and reading the config file', () => {
  it('searches the places in order: the first that exists and is not empty wins', async () => {
    const dir = project({ 'deploy.config.ts': '  \n', 'deploy.config.mjs': 'export default { service: "from-mjs" };', 'deploy.config.json': json({ service: 'from-json' }) });
    const r = await readConfigFile({ cwd: dir });
    expect(r).toEqual({ path: join(dir, 'deploy.config.mjs'), value: { service: 'from-mjs' } });
  });

  it('a config that is null is skipped by the search, and names no config when given by path', async () => {
    const dir = project({ 'deploy.config.json': 'null', 'deploy.config.yaml': 'service: yaml' });
    expect((await readConfigFile({ cwd: dir })).value).toEqual({ service: 'yaml' });
    await expect(readConfigFile({ cwd: dir, configPath: 'deploy.config.json' })).rejects.toThrow(UsageError);
  });

  it('a JSON file that does not parse gets the message cosmiconfig gives', async () => {
    const dir = project({ 'deploy.config.json': '{ "service": "web", }' });
    const { cosmiconfig } = createRequire(import.meta.url)('cosmiconfig') as typeof import('cosmiconfig');
    const expected = await cosmiconfig('zdd')
      .load(join(dir, 'deploy.config.json'))
      .then(() => '', (e: Error) => e.message);
    expect(expected).toMatch(/JSON/);
    for (const opts of [{ cwd: dir }, { cwd: dir, configPath: 'deploy.config.json' }]) {
      const e = await readConfigFile(opts).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).message).toContain(expected.split('\n')[0]);
    }
  });

  it('YAML, package.json "zdd" and $import are still read as cosmiconfig reads them', async () => {
    const yaml = project({ 'deploy.config.yaml': 'service: from-yaml\nreplicas: 2\n' });
    expect((await readConfigFile({ cwd: yaml })).value).toEqual({ service: 'from-yaml', replicas: 2 });
    const pkg = project({ 'package.json': json({ name: 'x', zdd: { service: 'from-package' } }) });
    expect(await readConfigFile({ cwd: pkg })).toEqual({ path: join(pkg, 'package.json'), value: { service: 'from-package' } });
    const imports = project({ 'base.json': json({ service: 'base', replicas: 3 }), 'deploy.config.json': json({ $import: './base.json', service: 'own' }) });
    expect((await readConfigFile({ cwd: imports })).value).toEqual({ service: 'own', replicas: 3 });
  });

  it('a module config with $import runs once', async () => {
    const dir = project({
      'base.json': json({ replicas: 4 }),
      'deploy.config.mjs': 'globalThis.zddConfigRuns = (globalThis.zddConfigRuns ?? 0) + 1; export default { $import: "./base.json", service: "web" };',
    });
    const g = globalThis as { zddConfigRuns?: number };
    delete g.zddConfigRuns;
    expect((await readConfigFile({ cwd: dir })).value).toEqual({ service: 'web', replicas: 4 });
    expect(g.zddConfigRuns).toBe(1);
  });

  it("cosmiconfig's meta config (.config/config.json) still adds search places", async () => {
    const dir = project({ '.config/config.json': json({ cosmiconfig: { searchPlaces: ['ops/zdd.json'] } }), 'ops/zdd.json': json({ service: 'from-meta' }), 'deploy.config.json': json({ service: 'not-this' }) });
    const cwd = process.cwd();
    // cosmiconfig reads its meta config from the process's directory, as zdd runs it.
    process.chdir(dir);
    try {
      expect((await readConfigFile({ cwd: dir })).value).toEqual({ service: 'from-meta' });
    } finally {
      process.chdir(cwd);
    }
  });

  it('zdd validate of a TypeScript or JSON config loads no cosmiconfig', () => {
    const log = join(root, 'required.log');
    const preload = join(root, 'record-required.cjs');
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${json(log)}, Object.keys(require.cache).join('\\n')));`);
    const dir = project({ 'deploy.config.json': json({ service: 'web', provider: { type: 'local', command: 'node app.mjs' } }) });
    for (const args of [['validate'], ['validate', '--config', join(ROOT, 'examples/local/deploy.config.ts')]]) {
      const r = spawnSync(process.execPath, ['--require', preload, ZDD_BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: '1' } });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const required = readFileSync(log, 'utf8');
      expect(required).not.toContain('cosmiconfig');
      expect(required).not.toContain('parse-json');
    }
  });
});
