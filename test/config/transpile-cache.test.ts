import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transpileCacheDir } from '../../src/config/transpile-cache.js';
import { ZDD_BIN } from '../cli/cli-harness.js';

describe('the transpiled-config cache', () => {
  it('lives in the user cache folder, readable by this user only', () => {
    const home = mkdtempSync(join(tmpdir(), 'zdd-cache-'));
    try {
      const dir = transpileCacheDir({ XDG_CACHE_HOME: home });
      expect(dir).toBe(join(home, 'zdd', 'jiti'));
      expect(statSync(dir!).mode & 0o777).toBe(0o700);
      // one made too open earlier is closed again
      chmodSync(dir!, 0o755);
      expect(transpileCacheDir({ XDG_CACHE_HOME: home })).toBe(dir);
      expect(statSync(dir!).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('is off (no cache, the config is transpiled each time) when the folder cannot be made', () => {
    const home = mkdtempSync(join(tmpdir(), 'zdd-cache-'));
    try {
      writeFileSync(join(home, 'zdd'), 'a file where the folder should be');
      expect(transpileCacheDir({ XDG_CACHE_HOME: home })).toBeUndefined();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a TypeScript config that imports another file is transpiled into it, and the next command reads it from there', () => {
    const home = mkdtempSync(join(tmpdir(), 'zdd-cache-'));
    const project = mkdtempSync(join(tmpdir(), 'zdd-cache-project-'));
    try {
      // A config that needs only zdd's API is compiled to plain ESM instead (test/config/compiled-config.test.ts).
      writeFileSync(join(project, 'port.ts'), 'export const port: number = 8080;\n');
      writeFileSync(
        join(project, 'deploy.config.ts'),
        `import { defineConfig } from 'zdd';\nimport { port } from './port.ts';\nexport default defineConfig({ service: 'cached', provider: { type: 'local', command: 'node app.mjs', port } });\n`,
      );
      const validate = () => spawnSync(process.execPath, [ZDD_BIN, 'validate', '--no-color'], { cwd: project, env: { ...process.env, XDG_CACHE_HOME: home }, encoding: 'utf8' });
      const first = validate();
      expect(first.status, first.stdout + first.stderr).toBe(0);
      const cached = readdirSync(join(home, 'zdd', 'jiti'));
      expect(cached.some((f) => f.includes('deploy.config'))).toBe(true);
      expect(validate().status).toBe(0);
      expect(readdirSync(join(home, 'zdd', 'jiti'))).toEqual(cached);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(project, { recursive: true, force: true });
    }
  });
});
