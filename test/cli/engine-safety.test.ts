import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

/**
 * zdd's own failures (issue 8, part 2) through the built binary with the file-backed fake
 * provider: the fake's state file shows every provider call a killed or stopped zdd made.
 */
let p: Project | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

const MANUAL = '[{ weight: 20, pause: {} }, { weight: 100 }]';

function lockFile(project: Project): string {
  return join(project.dir, '.zdd/web/lock.json');
}

describe('item 1: a deploy that lost its lock stops acting', () => {
  it('frozen past its lease and taken over by `zdd rollback`: on waking it makes no provider call, does not roll back, exits 4 naming who took over', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const deploy = p.start(['deploy', '--revision', 'v2']);
    await deploy.waitFor(/paused: /);
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });

    // Freeze the deploy (a VM pause, a stopped laptop) and age its lease as if it slept past it.
    deploy.child.kill('SIGSTOP');
    const lock = JSON.parse(readFileSync(lockFile(p), 'utf8'));
    lock.heartbeat = new Date(Date.now() - 3_600_000).toISOString();
    writeFileSync(lockFile(p), JSON.stringify(lock));

    const rollback = await p.run(['rollback']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    const callsAfterTakeOver = p.fakeState().calls.length;

    deploy.child.kill('SIGCONT');
    const timer = setTimeout(() => deploy.child.kill('SIGKILL'), 20_000);
    const r = await deploy.done;
    clearTimeout(timer);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/Lost the lock of service "web"/);
    expect(r.stdout).toMatch(/taken over by \S+@\S+ \(pid \d+, zdd rollback\)/);
    expect(r.stdout).not.toMatch(/ROLLBACK: |rollback step|rollback done/);
    // No provider call after the take-over, and the new holder's record stands.
    expect(p.fakeState().calls.length).toBe(callsAfterTakeOver);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    const status = await p.run(['status', '--json']);
    const report = status.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'status');
    expect(report.deployment.status).toBe('rolled-back');
  });
});
