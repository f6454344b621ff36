import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runZdd } from './cli-harness.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-init-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('zdd init', () => {
  for (const provider of ['local', 'aws']) {
    it(`writes a commented ${provider} config that validates`, async () => {
      const r = await runZdd(['init', '--provider', provider], dir);
      expect(r.code).toBe(0);
      const text = readFileSync(join(dir, 'deploy.config.ts'), 'utf8');
      expect(text).toContain("import { defineConfig } from 'zdd'");
      expect(text).toMatch(/\/\/ /);
      const v = await runZdd(['validate'], dir);
      expect(v.stdout).toContain('is valid');
      expect(v.code).toBe(0);
    });
  }

  it('--router haproxy puts HAProxy in front of the local platform: its block replaces the own router\'s port, and the config validates', async () => {
    const r = await runZdd(['init', '--provider', 'local', '--router', 'haproxy'], dir);
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'deploy.config.ts'), 'utf8');
    expect(text).toContain("type: 'haproxy'");
    expect(text).not.toMatch(/^\s*port:/m);
    const v = await runZdd(['validate'], dir);
    expect(v.stdout).toContain('is valid');
    expect(v.code).toBe(0);
  });

  it('a router the platform cannot use is a usage error naming the ones it can (exit 2, nothing written)', async () => {
    const r = await runZdd(['init', '--provider', 'aws', '--router', 'haproxy'], dir);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('router "haproxy" cannot stand in front of platform "aws"');
    expect(r.stdout + r.stderr).toContain('Platform aws can use: alb.');
  });

  it('refuses to overwrite an existing file without --force (exit 2, file unchanged)', async () => {
    writeFileSync(join(dir, 'deploy.config.ts'), 'mine');
    const r = await runZdd(['init'], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('already exists');
    expect(readFileSync(join(dir, 'deploy.config.ts'), 'utf8')).toBe('mine');
  });

  it('an unknown provider is a usage error', async () => {
    const r = await runZdd(['init', '--provider', 'gcp'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are local, aws');
  });
});
