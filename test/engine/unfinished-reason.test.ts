import { describe, expect, it } from 'vitest';
import type { DeploymentRecord, LockInfo } from '../../src/core/state.js';
import { unfinishedRollbackReason } from '../../src/engine/unfinished-reason.js';

const by = { who: 'alice', host: 'ci-1', pid: 4242, since: '2026-01-01T00:00:00.000Z', command: 'deploy --revision v2', deploymentId: 'd1' };
const record = (over: Partial<DeploymentRecord> = {}): DeploymentRecord =>
  ({ id: 'd1', status: 'running', plan: [{}, {}, {}, {}], stepIndex: 2, inFlight: { index: 2, phase: 'deploy', startedAt: '2026-01-01T00:00:05.000Z' }, by, updatedAt: '2026-01-01T00:00:05.000Z', ...over }) as DeploymentRecord;
const fallback = { at: '2026-01-01T00:00:09.000Z', run: 'dead-mans-switch', kind: 'dead-mans-switch' as const, reason: 'r', restored: 'v1', weightsBefore: { v1: 70, v2: 30 }, lastHeard: '2026-01-01T00:00:07.000Z' };

/** What `zdd rollback` says of a deploy that did not finish: the record and the lock as they are read. */
describe('the reason of a rollback of an unfinished deploy', () => {
  it('a deploy left running: its process died (pid, host, command, step, last heard), the dead-man\'s switch put stable back, then the manual rollback', () => {
    expect(unfinishedRollbackReason(record({ timeline: [fallback] }), null)).toBe(
      "the deploy's process (pid 4242 on ci-1, `zdd deploy --revision v2`) died during step 3/4, last heard at 2026-01-01T00:00:07.000Z; " +
        "the local router's dead-man's switch put 100% back on v1 at 2026-01-01T00:00:09.000Z; then a manual rollback of an unfinished deploy",
    );
  });

  it('a watchdog that names itself in its note is named (records from before name none: the local router\'s)', () => {
    expect(unfinishedRollbackReason(record({ timeline: [{ ...fallback, watchdog: 'the HAProxy watchdog' }] }), null)).toContain('; the HAProxy watchdog put 100% back on v1 at 2026-01-01T00:00:09.000Z; then');
  });

  it('its stale lock, still there, says when it was last heard and why it is stale', () => {
    const lock = { holder: by, heartbeat: '2026-01-01T00:00:06.000Z', leaseMs: 120_000, stale: true, staleReason: 'process 4242 on ci-1 is no longer running' } as LockInfo;
    expect(unfinishedRollbackReason(record(), lock)).toBe(
      "the deploy's process (pid 4242 on ci-1, `zdd deploy --revision v2`) died during step 3/4 (process 4242 on ci-1 is no longer running), last heard at 2026-01-01T00:00:06.000Z; then a manual rollback of an unfinished deploy",
    );
  });

  it('a rollback under way keeps its reason; a deploy that stopped on purpose (failed, --no-rollback) did not die', () => {
    expect(unfinishedRollbackReason(record({ status: 'rolling-back', rollback: { reason: 'check errors failed', startedAt: '', plan: [], stepIndex: 0 } }), null)).toBe('check errors failed');
    expect(unfinishedRollbackReason(record({ status: 'failed' }), null)).toBe('manual rollback of an unfinished deploy');
  });
});
