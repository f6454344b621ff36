import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockLostError, type LockHolderInfo } from '../../src/core/errors.js';
import type { LockInfo, LockLease, LockStore } from '../../src/core/state.js';
import { LockSession } from '../../src/engine/lock-session.js';

const me: LockHolderInfo = { who: 'me', host: 'h1', pid: 1, since: '2026-01-01T00:00:00Z' };
const them: LockHolderInfo = { who: 'ops', host: 'laptop', pid: 77, since: '2026-01-01T00:05:00Z', command: 'rollback' };

/** An in-memory lock store whose heartbeat is slow and scriptable: enough to see overlap and loss. */
function scriptedStore(opts: { heartbeatMs?: number } = {}) {
  const state = { token: 't1' as string | null, holder: me, failWith: null as Error | null, active: 0, maxActive: 0, beats: 0 };
  const lease: LockLease = {
    token: 't1',
    async heartbeat() {
      state.active++;
      state.maxActive = Math.max(state.maxActive, state.active);
      state.beats++;
      try {
        await new Promise((r) => setTimeout(r, opts.heartbeatMs ?? 20));
        if (state.failWith) throw state.failWith;
        if (state.token !== 't1') throw new LockLostError('web', 'token mismatch', state.holder);
      } finally {
        state.active--;
      }
    },
    async release() {
      if (state.failWith) throw state.failWith;
    },
  };
  const store: LockStore = {
    acquire: async () => lease,
    inspect: async (): Promise<LockInfo> => ({ holder: state.holder, heartbeat: '', leaseMs: 60_000, stale: false }),
    forceRelease: async () => true,
  };
  return { state, store };
}

function session(store: LockStore, clock = new FakeClock(), heartbeatMs = 15_000) {
  const warnings: string[] = [];
  const s = new LockSession({ service: 'web', lock: store, clock, holder: me, heartbeatMs, events: { emit: (e) => e.type === 'warn' && warnings.push(e.message) } });
  return { s, warnings, clock };
}

describe('lock session', () => {
  it('heartbeats never overlap: the timer and every write share one heartbeat in flight', async () => {
    const { state, store } = scriptedStore({ heartbeatMs: 30 });
    const { s } = session(store, new FakeClock(), 5);
    await s.acquire('d1', 0);
    await Promise.all(Array.from({ length: 8 }, () => s.assertHeld()));
    await new Promise((r) => setTimeout(r, 150));
    await Promise.all(Array.from({ length: 4 }, () => s.assertHeld()));
    await s.release();
    expect(state.beats).toBeGreaterThan(2);
    expect(state.maxActive).toBe(1);
  });

  it('a token that no longer matches: the next write is refused with LockLostError naming the new holder, and the run signal aborts', async () => {
    const { state, store } = scriptedStore();
    const { s } = session(store);
    await s.acquire('d1', 0);
    await s.assertHeld();
    state.token = 't2';
    state.holder = them;
    const err = await s.assertHeld().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toContain('now held by ops@laptop (pid 77, rollback)');
    expect(s.signal.aborted).toBe(true);
    // Once lost, always lost: no heartbeat can bring it back.
    state.token = 't1';
    await expect(s.assertHeld()).rejects.toBeInstanceOf(LockLostError);
  });

  it('a store that fails: warns while the lease is valid, and stops once the lease (injected clock) has expired', async () => {
    const { state, store } = scriptedStore();
    const clock = new FakeClock();
    const { s, warnings } = session(store, clock);
    await s.acquire('d1', 0);
    await new Promise((r) => setTimeout(r, 10)); // the lease length is read from the store
    state.failWith = new Error('EIO: disk gone');
    await s.assertHeld();
    expect(warnings.join('\n')).toMatch(/Lock heartbeat failed \(lease still valid for 1m\): EIO: disk gone/);
    await clock.advance(61_000);
    const err = await s.assertHeld().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toMatch(/heartbeats failed for 1m1s, longer than the lease \(1m\): EIO: disk gone/);
  });

  it('a release that fails is reported, not thrown (the work is done; the lease expires)', async () => {
    const { state, store } = scriptedStore();
    const { s } = session(store);
    await s.acquire('d1', 0);
    state.failWith = new Error('S3 503 SlowDown');
    expect(await s.release()).toEqual({ ok: false, error: 'S3 503 SlowDown' });
  });
});

describe("take-over and the local router's dead-man's switch", () => {
  it('waits for the switch to free the lock it holds for a moment, then takes it; a live deploy holding it is still refused', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { FileLockStore } = await import('../../src/state/file-lock-store.js');
    const { DEAD_MANS_SWITCH_COMMAND } = await import('../../src/core/state.js');
    const dir = mkdtempSync(join(tmpdir(), 'zdd-switch-'));
    try {
      const clock = new FakeClock(Date.UTC(2026, 10, 30, 12));
      const store = new FileLockStore(dir, clock);
      await store.acquire('web', { ...them, deploymentId: 'd1' }, { waitMs: 0 });
      await clock.advance(200_000); // the dead deploy's lease ran out
      const fence = await store.fence('web', 'd1', { who: 'zdd-router', host: 'h1', pid: 9, since: 'now', command: DEAD_MANS_SWITCH_COMMAND });
      expect(fence).not.toBeNull();
      setTimeout(() => void fence!.free('lease ran out; 100% back on v1'), 300);
      const { s } = session(store, clock);
      await s.takeOver('d1');
      expect((await store.inspect('web'))?.holder.who).toBe('me');
      await s.release();

      await store.acquire('web', { ...them, deploymentId: 'd1' }, { waitMs: 0 });
      await expect(session(store, clock).s.takeOver('d1')).rejects.toMatchObject({ exitCode: 3 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
