import { describe, expect, it } from 'vitest';
import { readStatus } from '../../src/cli/commands/status/gather.js';
import { deployProcess } from '../../src/cli/commands/status/judge.js';
import type { DeploymentRecord, LockInfo } from '../../src/core/state.js';
import { DEAD_MANS_SWITCH } from '../../src/providers/local/router-state.js';

const holder = { who: 'ci', host: 'runner', pid: 4242, since: '2026-11-30T12:00:00.000Z', command: 'deploy --revision v2 --log /tmp/bg.log --json' };
const record = (status: DeploymentRecord['status'], id = 'd2', updatedAt = 't1') =>
  ({ id, status, updatedAt, by: holder, candidate: { id: 'v2' }, stable: { id: 'v1' }, plan: [], stepIndex: 0, weights: { stable: 100, candidate: 0 } }) as unknown as DeploymentRecord;
const lock = (over: Partial<LockInfo> = {}, deploymentId = 'd2'): LockInfo => ({ holder: { ...holder, deploymentId }, heartbeat: 't', leaseMs: 120_000, stale: false, ...over });

describe('status: is a live process behind the deploy in progress?', () => {
  it('a live holder of its lock runs it; a stale one is gone, named with its command (and so its --log)', () => {
    expect(deployProcess(record('running'), lock())).toMatchObject({ alive: true });
    const gone = deployProcess(record('running'), lock({ stale: true, staleReason: 'process 4242 on runner is no longer running' }));
    expect(gone.alive).toBe(false);
    expect(gone.reason).toBe('the process that ran it (pid 4242 on runner, `zdd deploy --revision v2 --log /tmp/bg.log --json`) is gone: process 4242 on runner is no longer running');
  });

  it('no lock: a running deploy has lost its process; a paused one has nobody waiting at the pause', () => {
    expect(deployProcess(record('running'), null)).toMatchObject({ alive: false, reason: expect.stringMatching(/pid 4242 on runner.*is gone: no process holds its lock/) });
    expect(deployProcess(record('paused'), null)).toMatchObject({ alive: false, reason: expect.stringMatching(/no zdd process waits at it/) });
    expect(deployProcess(record('running'), lock({}, 'other'))).toMatchObject({ alive: false, reason: expect.stringMatching(/held by .* for another run/) });
  });

  it("the local router's dead-man's switch holding the lock for a moment (to fence it) is not the deploy's process", () => {
    const fenced: LockInfo = { holder: { who: 'zdd-router', host: 'runner', pid: 77, since: 't', watchdog: DEAD_MANS_SWITCH, deploymentId: 'd2' }, heartbeat: 't', leaseMs: 120_000, stale: false };
    expect(deployProcess(record('running'), fenced)).toEqual({
      alive: false,
      reason: "the process that ran it (pid 4242 on runner, `zdd deploy --revision v2 --log /tmp/bg.log --json`) is gone: the local router's dead-man's switch (pid 77) holds its lock while it puts traffic back on stable",
    });
  });

  /** A context whose record changes between the reads, as when a deploy starts or ends during `zdd status`. */
  function ctxWith(records: DeploymentRecord[], held: LockInfo | null) {
    let i = 0;
    return {
      config: { service: 'web' },
      provider: { name: 'fake', snapshot: async () => ({ revisions: [], weights: { v1: 100 }, testRoute: null }) },
      store: { records: { latest: async () => records[Math.min(i++, records.length - 1)], history: async () => [] }, lock: { inspect: async () => held } },
    } as any;
  }

  it('a deploy that ends between the record and lock reads is not called gone (it wrote its last record before it freed the lock)', async () => {
    const s = await readStatus(ctxWith([record('running'), record('succeeded', 'd2', 't2')], null));
    expect(s.deployment?.status).toBe('succeeded');
    expect(s.deployProcess).toBeUndefined();
  });

  it('a deploy that starts between the reads is not called gone (it took its lock before its first record)', async () => {
    const s = await readStatus(ctxWith([record('succeeded', 'd1'), record('running', 'd2')], null));
    expect(s.deployProcess).toMatchObject({ alive: true });
  });
});
