import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/providers/local/processes.js';
import { ROOT } from './local-fixture.js';
import { ZDD_BIN } from './e2e-project.js';

/**
 * The quickstart in docs/local-provider.md (the README's user story), run as written: each
 * `npx zdd …` line runs the built binary from a copy of examples/local, with PORT moved to a free
 * port. Exit codes are the ones the comments promise (`exit 1` where it says so, else 0).
 */
function quickstartLines(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/local-provider.md'), 'utf8');
  const block = /## Quickstart[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/local-provider.md has no Quickstart sh block');
  return block[1].split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('the quickstart, as documented', { timeout: 360_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-readme-'));
  cpSync(join(ROOT, 'examples/local'), join(dir, 'examples/local'), { recursive: true, filter: (src) => !src.includes('.zdd') });
  afterAll(async () => {
    await run(['down', '--config', 'examples/local/deploy.config.ts'], {}).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [ZDD_BIN, ...args], { cwd: dir, env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
  }

  // Twice: the story ends with `zdd down`, and a reader who runs it again must get the same outcomes
  // (a service stopped on purpose is not drift).
  it('runs every line with the promised outcome, twice in a row', async () => {
    const port = await freePort('127.0.0.1');
    const lines = quickstartLines();
    expect(lines[0]).toBe('npm ci');
    expect(lines.filter((l) => l.startsWith('npx zdd'))).toHaveLength(8);
    expect(lines.at(-1)).toMatch(/^npx zdd down /);
    for (const line of [...lines.slice(1), ...lines.slice(1)]) {
      const [cmd, comment = ''] = line.split(/\s+#\s+/);
      if (cmd.startsWith('curl')) {
        const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
        expect(body.trim(), line).toBe(/answers (\S+)/.exec(comment)![1]);
        continue;
      }
      expect(cmd.startsWith('npx zdd '), line).toBe(true);
      const args = cmd.slice('npx zdd '.length).split(/\s+/);
      const expected = /exit (\d+)/.exec(comment)?.[1] ?? '0';
      const r = await run(args, { PORT: String(port) });
      expect(`${r.code}`, `${line}\n${r.out.slice(-2500)}`).toBe(expected);
      if (args[0] === 'status') {
        expect(r.out).toMatch(/traffic \(live\): v3 100%/);
        expect(r.out).not.toContain('DRIFT');
      }
      if (args[0] === 'down') {
        // Stopped on purpose: status tells it, without calling it drift.
        const status = await run(['status', ...args.slice(1)], { PORT: String(port) });
        expect(`${status.code}`, status.out).toBe('0');
        expect(status.out).not.toContain('DRIFT');
        expect(status.out).toMatch(/stopped on purpose: `zdd down` by .* the next deploy starts from nothing/);
      }
    }
  });
});
