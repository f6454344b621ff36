import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import { HookFailedError } from '../../src/core/errors.js';
import { runHooks } from '../../src/hooks/hook-runner.js';
import { runCommand } from '../../src/hooks/run-command.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-hooks-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

function config(hooks: Record<string, unknown>) {
  return validateConfig({ service: 'web', provider: { type: 'custom', create: () => null }, hooks });
}

describe('hooks', () => {
  it('get their context as ZDD_* environment variables', async () => {
    const out = join(dir, 'env.txt');
    const bus = new EventBus();
    await runHooks('preDeploy', config({ preDeploy: `echo "$ZDD_SERVICE $ZDD_REVISION $ZDD_HOOK" > ${out}` }), {
      cwd: dir,
      env: { ZDD_SERVICE: 'web', ZDD_REVISION: 'v2' },
      signal: new AbortController().signal,
      events: bus,
    });
    expect(readFileSync(out, 'utf8').trim()).toBe('web v2 preDeploy');
  });

  it('a failing hook names itself, its exit code and its last stderr lines', async () => {
    const events: ZddEventWithTime[] = [];
    const bus = new EventBus();
    bus.on((e) => events.push(e));
    const err = await runHooks('postProvision', config({ postProvision: 'echo one >&2; echo two >&2; exit 4' }), {
      cwd: dir,
      env: {},
      signal: new AbortController().signal,
      events: bus,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(HookFailedError);
    expect(err.message).toBe('Hook postProvision (`echo one >&2; echo two >&2; exit 4`) exited with code 4\n  last stderr lines:\n    one\n    two');
    expect(events.map((e) => e.type === 'hook' && e.status)).toContain('failed');
  });

  it('a hung hook is killed with its whole process tree at the timeout', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const err = await runHooks('preShift', config({ preShift: { run: `sleep 300 & echo $! > ${pidFile}; wait`, timeout: '500ms' } }), {
      cwd: dir,
      env: {},
      signal: new AbortController().signal,
      events: new EventBus(),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(HookFailedError);
    expect(err.message).toContain('timed out after 500ms; its process tree was killed');
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(await waitGone(grandchild)).toBe(true);
  });

  it('a command that does not exist fails clearly', async () => {
    const r = await runCommand(['/nonexistent/zdd-hook'], { cwd: dir, env: {}, timeoutMs: 5000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.spawnError ?? '').toMatch(/ENOENT|not found/);
  });

  it('an abort (SIGINT) kills the running hook tree', async () => {
    const pidFile = join(dir, 'p.pid');
    const ac = new AbortController();
    const run = runCommand(`sleep 300 & echo $! > ${pidFile}; wait`, { cwd: dir, env: {}, timeoutMs: 60_000, signal: ac.signal });
    // The shell creates the file before it writes the pid: wait for the number itself.
    const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
    for (let i = 0; i < 250 && !(readPid() > 0); i++) await new Promise((r) => setTimeout(r, 20));
    const grandchild = readPid();
    expect(grandchild).toBeGreaterThan(0);
    expect(alive(grandchild)).toBe(true);
    ac.abort();
    const r = await run;
    expect(r.exitCode).not.toBe(0);
    expect(await waitGone(grandchild)).toBe(true);
  });

  it('continueOnError turns a failure into a warning', async () => {
    const events: ZddEventWithTime[] = [];
    const bus = new EventBus();
    bus.on((e) => events.push(e));
    await runHooks('postDeploy', config({ postDeploy: { run: 'exit 2', continueOnError: true } }), { cwd: dir, env: {}, signal: new AbortController().signal, events: bus });
    expect(events.some((e) => e.type === 'warn' && e.message.includes('continueOnError'))).toBe(true);
  });
});
