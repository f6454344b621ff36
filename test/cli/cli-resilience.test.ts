import { afterEach, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

let p: Project | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

const MANUAL = "[{ weight: 20, pause: {} }, { weight: 100 }]";

describe('signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-bake rolls back and exits 130`, async () => {
      p = makeProject();
      const run = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
      await run.waitFor(/step \d+\/\d+: bake 10s/);
      run.child.kill(signal);
      const r = await run.done;
      expect(r.code).toBe(130);
      expect(r.stdout).toContain(`interrupted by ${signal}`);
      expect(p.fakeState().weights).toEqual({ v1: 100 });
      expect(p.fakeState().revisions.v2.running).toBe(false);
      const status = await p.run(['status']);
      expect(status.stdout).toContain('ROLLED-BACK');
    });
  }

  it('zdd abort from another process makes the running deploy roll back', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const run = p.start(['deploy', '--revision', 'v2']);
    await run.waitFor(/paused: /);
    const abort = await p.run(['abort']);
    expect(abort.code).toBe(0);
    expect(abort.stdout).toContain('aborted and rolled back');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('crash: kill -9 mid-canary', () => {
  it('status tells the step and weights; rollback restores stable', async () => {
    p = makeProject();
    const run = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    await run.waitFor(/step \d+\/\d+: bake 10s/);
    run.child.kill('SIGKILL');
    await run.done;
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });

    const status = await p.run(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/last deploy: \S+ v1 → v2 with canary: RUNNING/);
    expect(status.stdout).toMatch(/step \d+\/\d+: bake 10s with analysis \(analysis\) \(in flight\)/);
    expect(status.stdout).toContain('traffic (recorded): stable v1 80% | candidate v2 20%');
    expect(status.stdout).toContain('traffic (live): v1 80% | v2 20%');
    expect(status.stdout).toMatch(/lock: held by .* STALE: process \d+ on .* is no longer running/);

    const rollback = await p.run(['rollback']);
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain('Taking over the lock');
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    expect(p.fakeState().revisions.v2.running).toBe(false);
    expect((await p.run(['lock', 'status'])).stdout).toContain('is free');
  });

  it('promote continues the crashed deploy from its checkpoint', async () => {
    p = makeProject();
    const run = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    await run.waitFor(/step \d+\/\d+: bake 10s/);
    run.child.kill('SIGKILL');
    await run.done;
    const provisions = p.fakeState().calls.filter((c) => c.method === 'provision').length;
    const promote = await p.run(['promote'], { fastClock: true });
    expect(promote.code).toBe(0);
    expect(promote.stdout).toMatch(/Continuing deploy \S+ from step \d+/);
    expect(p.fakeState().weights).toEqual({ v2: 100 });
    // Nothing before the checkpoint ran again.
    expect(p.fakeState().calls.filter((c) => c.method === 'provision').length).toBe(provisions);
  });
});

describe('lock: one deploy per service', () => {
  it('a second deploy gets exit 3 naming the holder; --lock-wait succeeds once the first finishes', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const first = p.start(['deploy', '--revision', 'v2']);
    await first.waitFor(/paused: /);
    const second = await p.run(['deploy', '--revision', 'v3']);
    expect(second.code).toBe(3);
    expect(second.stdout).toMatch(new RegExp(`locked by \\S+@\\S+ \\(pid ${first.child.pid}\\)`));
    expect(second.stdout).toContain('--lock-wait');

    const waiting = p.start(['deploy', '--revision', 'v3', '--strategy', 'blue-green', '--lock-wait', '60s'], { fastClock: true });
    await waiting.waitFor(/Waiting up to 1m for the lock/);
    expect((await p.run(['promote'])).code).toBe(0);
    expect((await first.done).code).toBe(0);
    const r = await waiting.done;
    expect(r.code).toBe(0);
    expect(p.fakeState().weights).toEqual({ v3: 100 });
  });

  it('a stale lock (holder killed) is reported as stale; release --force frees it', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const first = p.start(['deploy', '--revision', 'v2']);
    await first.waitFor(/paused: /);
    first.child.kill('SIGKILL');
    await first.done;
    const lock = await p.run(['lock', 'status']);
    expect(lock.stdout).toMatch(/It looks STALE: process \d+ on \S+ is no longer running/);
    const deploy = await p.run(['deploy', '--revision', 'v3']);
    expect(deploy.code).toBe(3);
    expect(deploy.stdout).toContain('the lock looks stale');
    expect(deploy.stdout).toContain('zdd lock release --force');
    expect((await p.run(['lock', 'release'])).code).toBe(2);
    const release = await p.run(['lock', 'release', '--force']);
    expect(release.code).toBe(0);
    // The crashed deploy is still unfinished: a new deploy refuses and says what to do.
    const again = await p.run(['deploy', '--revision', 'v3']);
    expect(again.code).toBe(4);
    expect(again.stdout).toContain('did not finish');
    expect(again.stdout).toContain('zdd rollback');
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });
  });
});
