import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LockLostError } from '../../src/core/errors.js';
import { pidScope } from '../../src/state/lock-holder.js';
import { conditionalLease, isStoredLock, lockInfo, type FreedLock, type LeaseWrites, type StoredLock } from '../../src/state/stored-lock.js';

/**
 * The lease both lock stores (file and S3) build on: what a reader makes of a stored lock, and what
 * a holder hears when its conditional write finds the lock is no longer its own.
 */

const holder = { who: 'ana', host: 'elsewhere.example', pid: 4242, since: '2026-01-01T00:00:00Z' };
const stored: StoredLock = { holder, heartbeat: '2026-01-01T00:00:00Z', leaseMs: 120_000, token: 'tok-1' };

describe('lockInfo: when a stored lock is stale', () => {
  it('fresh until its age passes the lease plus the margin, then stale saying for how long', () => {
    expect(lockInfo(stored, 150_000, 30_000)).toEqual({ holder: { ...holder, token: 'tok-1' }, heartbeat: stored.heartbeat, leaseMs: 120_000, stale: false, staleReason: undefined });
    const stale = lockInfo(stored, 150_001, 30_000);
    expect(stale.stale).toBe(true);
    expect(stale.staleReason).toBe('no heartbeat for 150s (lease 120s)');
    expect(lockInfo(stored, 120_001, 0).stale).toBe(true);
  });

  it('a holder on this host whose process is gone is stale at once, whatever its age', () => {
    const gone = spawnSync('true').pid!;
    const info = lockInfo({ ...stored, holder: { ...holder, host: hostname(), pid: gone }, process: { scope: pidScope() } }, 0, 30_000);
    expect(info.stale).toBe(true);
    expect(info.staleReason).toBe(`process ${gone} on ${hostname()} is no longer running`);
  });

  it('a holder on another host is never judged dead by its pid: only the lease decides', () => {
    expect(lockInfo({ ...stored, process: { scope: 'x', start: '1' } }, 0, 0).stale).toBe(false);
  });
});

describe('isStoredLock: the shape a reader accepts', () => {
  it('accepts a complete lock and refuses each missing or mistyped field', () => {
    expect(isStoredLock(stored)).toBe(true);
    for (const bad of [
      null,
      'lock',
      { ...stored, token: 1 },
      { ...stored, heartbeat: undefined },
      { ...stored, leaseMs: '120000' },
      { ...stored, holder: null },
      { ...stored, holder: 'ana' },
      { ...stored, holder: { ...holder, host: undefined } },
      { ...stored, holder: { ...holder, pid: '4242' } },
    ]) {
      expect(isStoredLock(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('conditionalLease: heartbeats and release over compare-and-swap writes', () => {
  function writes(answers: (true | StoredLock | FreedLock | null)[]) {
    const calls: string[] = [];
    const w: LeaseWrites = {
      async renew() {
        calls.push('renew');
        await new Promise((r) => setTimeout(r, 5));
        return answers.length > 1 ? answers.shift()! : answers[0];
      },
      async free() {
        calls.push('free');
      },
    };
    return { calls, w };
  }

  it('a renewed heartbeat resolves; heartbeats asked while one runs share it', async () => {
    const { calls, w } = writes([true]);
    const lease = conditionalLease('web', 'tok-1', w);
    expect(lease.token).toBe('tok-1');
    await Promise.all([lease.heartbeat(), lease.heartbeat(), lease.heartbeat()]);
    expect(calls).toEqual(['renew']);
    await lease.heartbeat();
    expect(calls).toEqual(['renew', 'renew']);
  });

  it('a lock taken by another process: LockLostError naming the new holder and its token', async () => {
    const other: StoredLock = { ...stored, holder: { ...holder, who: 'ops' }, token: 'tok-2' };
    const err = await conditionalLease('web', 'tok-1', writes([other]).w).heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toMatch(/another process took it over/);
    expect(err.holder).toEqual({ ...other.holder, token: 'tok-2' });
  });

  it('a lock that is gone: released, said so, with no holder to name', async () => {
    const err = await conditionalLease('web', 'tok-1', writes([null]).w).heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toMatch(/it was released \(zdd lock release --force\?\)/);
    expect(err.holder).toBeNull();
  });

  it.each([
    [{ free: true, at: 'T1', by: 'force' }, 'it was released with `zdd lock release --force` at T1'],
    [{ free: true, at: 'T2', by: 'dead-mans-switch', why: 'lease ran out' }, "the local router's dead-man's switch took it at T2 and put traffic back on stable (lease ran out)"],
    [{ free: true, at: 'T3', by: 'dead-mans-switch' }, "the local router's dead-man's switch took it at T3 and put traffic back on stable"],
    [{ free: true, at: 'T4', by: 'someone' }, 'it was released at T4'],
    [{ free: true, at: 'T5', by: 'fence', fencedBy: 'the HAProxy watchdog', why: 'drained the candidate' }, 'the HAProxy watchdog took it at T5 and drained the candidate'],
    [{ free: true, at: 'T6', by: 'fence' }, 'a watchdog took it at T6'],
  ] as [FreedLock, string][])('a lock freed by someone else (%j) says who freed it', async (freed, reason) => {
    const err = await conditionalLease('web', 'tok-1', writes([freed]).w).heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toContain(`${reason}`);
    expect(err.message).not.toMatch(/\(\)/);
    expect(err.holder).toBeNull();
  });

  it('release frees the lock once; after it, heartbeats write nothing', async () => {
    const { calls, w } = writes([true]);
    const lease = conditionalLease('web', 'tok-1', w);
    await lease.release();
    await lease.release();
    await lease.heartbeat();
    expect(calls).toEqual(['free']);
  });
});
