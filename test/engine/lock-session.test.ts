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
    fence: async () => null,
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
  /** A file lock store in a temporary folder whose lock is held by deploy d1, dead: its lease ran out. */
  async function deadDeployLock(body: (store: import('../../src/state/file-lock-store.js').FileLockStore, clock: FakeClock) => Promise<void>): Promise<void> {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { FileLockStore } = await import('../../src/state/file-lock-store.js');
    const dir = mkdtempSync(join(tmpdir(), 'zdd-switch-'));
    try {
      const clock = new FakeClock(Date.UTC(2026, 10, 30, 12));
      const store = new FileLockStore(dir, clock);
      await store.acquire('web', { ...them, deploymentId: 'd1' }, { waitMs: 0 });
      await clock.advance(200_000);
      await body(store, clock);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('waits for the switch to free the lock it holds for a moment, then takes it; a live deploy holding it is still refused', async () => {
    const { DEAD_MANS_SWITCH } = await import('../../src/providers/local/router-state.js');
    await deadDeployLock(async (store, clock) => {
      const fence = await store.fence('web', 'd1', { who: 'zdd-router', host: 'h1', pid: 9, since: 'now', watchdog: DEAD_MANS_SWITCH });
      expect(fence).not.toBeNull();
      setTimeout(() => void fence!.free('put traffic back on stable (lease ran out; 100% back on v1)'), 300);
      const { s } = session(store, clock);
      await s.takeOver('d1');
      expect((await store.inspect('web'))?.holder.who).toBe('me');
      await s.release();

      await store.acquire('web', { ...them, deploymentId: 'd1' }, { waitMs: 0 });
      await expect(session(store, clock).s.takeOver('d1')).rejects.toMatchObject({ exitCode: 3 });
    });
  });

  it('the switch fencing between the take-over\'s look and its write: the take-over waits for it and then takes the lock (not exit 3)', async () => {
    const { DEAD_MANS_SWITCH } = await import('../../src/providers/local/router-state.js');
    await deadDeployLock(async (files, clock) => {
      // The interleaving CI met, made certain: the take-over's first look sees the dead deploy's
      // stale lock, and the router's switch fences it right after, before the take-over writes.
      let looks = 0;
      const store: LockStore = {
        fence: (...a) => files.fence(...a),
        acquire: (...a) => files.acquire(...a),
        forceRelease: (...a) => files.forceRelease(...a),
        takeOver: (...a) => files.takeOver(...a),
        inspect: async (service) => {
          const info = await files.inspect(service);
          if (++looks === 1) {
            expect(info?.stale).toBe(true);
            const fence = await files.fence('web', 'd1', { who: 'zdd-router', host: 'h1', pid: 9, since: 'now', watchdog: DEAD_MANS_SWITCH });
            expect(fence).not.toBeNull();
            setTimeout(() => void fence!.free('put traffic back on stable (lease ran out; 100% back on v1)'), 300);
          }
          return info;
        },
      };
      const { s } = session(store, clock);
      await s.takeOver('d1');
      expect((await files.inspect('web'))?.holder.who).toBe('me');
      expect(looks).toBeGreaterThan(1);
      await s.release();
    });
  });

  it("a switch whose own lock went stale is not waited for: the take-over happens at once", async () => {
    const { DEAD_MANS_SWITCH } = await import('../../src/providers/local/router-state.js');
    let inspections = 0;
    const store: LockStore = {
      fence: async () => null,
      acquire: async () => Promise.reject(new Error('must not acquire')),
      inspect: async () => {
        inspections++;
        return { holder: { who: 'zdd-router', host: 'h1', pid: 9, since: 'now', watchdog: DEAD_MANS_SWITCH, deploymentId: 'd1' }, heartbeat: '', leaseMs: 60_000, stale: true, staleReason: 'switch gone' };
      },
      forceRelease: async () => true,
      takeOver: async () => ({ token: 't', heartbeat: async () => undefined, release: async () => undefined }),
    };
    const { s } = session(store);
    await s.takeOver('d1');
    expect(s.held).toBe(true);
    expect(inspections).toBeLessThanOrEqual(2);
    await s.release();
  });

  it('a switch that never frees the lock: the take-over gives up after about 5 seconds and says who holds it (exit 3)', async () => {
    const { DEAD_MANS_SWITCH } = await import('../../src/providers/local/router-state.js');
    let inspections = 0;
    const store: LockStore = {
      fence: async () => null,
      acquire: async () => Promise.reject(new Error('must not acquire')),
      inspect: async () => {
        inspections++;
        return { holder: { who: 'zdd-router', host: 'h1', pid: 9, since: 'now', watchdog: DEAD_MANS_SWITCH, deploymentId: 'd0' }, heartbeat: '', leaseMs: 60_000, stale: false };
      },
      forceRelease: async () => true,
    };
    const started = Date.now();
    await expect(session(store).s.takeOver('d1')).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining('zdd-router@h1') });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    expect(inspections).toBeGreaterThanOrEqual(40);
    expect(inspections).toBeLessThanOrEqual(52);
  });
});

describe('lock session: acquiring, losing and releasing', () => {
  /** A store whose calls are recorded, with scriptable answers. */
  function recordingStore(opts: { info?: LockInfo | null; takeOver?: boolean; acquireDelayMs?: number; leaseMs?: number } = {}) {
    const calls: string[] = [];
    const state = { token: 't1', holder: them as LockHolderInfo, info: opts.info === undefined ? null : opts.info };
    const lease = (name: string): LockLease => ({
      token: name,
      async heartbeat() {
        calls.push(`heartbeat ${name}`);
        if (state.token !== name) throw new LockLostError('web', 'token mismatch', null);
      },
      async release() {
        calls.push(`release ${name}`);
      },
    });
    const store: LockStore = {
      fence: async () => null,
      async acquire(_service, holder, o) {
        calls.push(`acquire ${holder.deploymentId} wait=${o.waitMs}`);
        if (opts.acquireDelayMs) await new Promise((r) => setTimeout(r, opts.acquireDelayMs));
        return lease('t1');
      },
      async inspect() {
        calls.push('inspect');
        return state.info ? { ...state.info, leaseMs: opts.leaseMs ?? state.info.leaseMs } : opts.leaseMs ? { holder: me, heartbeat: '', leaseMs: opts.leaseMs, stale: false } : null;
      },
      forceRelease: async () => true,
      ...(opts.takeOver === false
        ? {}
        : {
            async takeOver(_service: string, holder: LockHolderInfo, id: string) {
              calls.push(`takeOver ${id} by ${holder.who}`);
              return lease('t1');
            },
          }),
    };
    return { calls, state, store };
  }

  function sessionWithEvents(store: LockStore, clock = new FakeClock(), heartbeatMs = 15_000) {
    const events: { type: string; message: string }[] = [];
    const s = new LockSession({ service: 'web', lock: store, clock, holder: me, heartbeatMs, events: { emit: (e) => events.push(e as { type: string; message: string }) } });
    return { s, events };
  }

  const held = (stale: boolean, holder: LockHolderInfo = them): LockInfo => ({ holder, heartbeat: '', leaseMs: 60_000, stale, staleReason: stale ? 'pid 77 is gone' : undefined });

  it('waiting for a held lock says whose it is; a free or stale one is taken without that line', async () => {
    const busy = recordingStore({ info: held(false) });
    const a = sessionWithEvents(busy.store);
    await a.s.acquire('d1', 30_000);
    expect(a.events.map((e) => [e.type, e.message])).toEqual([['info', 'Waiting up to 30s for the lock held by ops@laptop (pid 77)']]);
    expect(busy.calls).toContain('acquire d1 wait=30000');
    await a.s.release();

    for (const info of [null, held(true)]) {
      const free = recordingStore({ info });
      const b = sessionWithEvents(free.store);
      await b.s.acquire('d1', 30_000);
      expect(b.events).toEqual([]);
      await b.s.release();
    }
    const noWait = recordingStore({ info: held(false) });
    const c = sessionWithEvents(noWait.store);
    await c.s.acquire('d1', 0);
    expect(c.events).toEqual([]);
    expect(noWait.calls[0]).toBe('acquire d1 wait=0');
  });

  it('a wait cancelled (Ctrl-C) rejects at once with the reason, and a lease that arrives later is released', async () => {
    const slow = recordingStore({ acquireDelayMs: 50 });
    const { s } = sessionWithEvents(slow.store);
    const cancel = new AbortController();
    const waiting = s.acquire('d1', 10_000, cancel.signal);
    await new Promise((r) => setTimeout(r, 10)); // while the store is still answering
    cancel.abort(new Error('SIGINT'));
    await expect(waiting).rejects.toThrow('SIGINT');
    expect(s.held).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    expect(slow.calls).toContain('release t1');

    const already = recordingStore({ acquireDelayMs: 10 });
    const aborted = new AbortController();
    aborted.abort(new Error('SIGTERM'));
    await expect(sessionWithEvents(already.store).s.acquire('d1', 0, aborted.signal)).rejects.toThrow('SIGTERM');
    await new Promise((r) => setTimeout(r, 40));
    expect(already.calls).toContain('release t1');

    const quick = recordingStore();
    const q = sessionWithEvents(quick.store);
    await q.s.acquire('d1', 0, new AbortController().signal);
    expect(q.s.held).toBe(true);
    await q.s.release();
    expect(quick.calls).toContain('release t1');
  });

  it('a failed acquire under a cancel signal still fails with its own error', async () => {
    const store: LockStore = { acquire: async () => Promise.reject(new Error('held by ops')), inspect: async () => null, forceRelease: async () => true, fence: async () => null };
    await expect(sessionWithEvents(store).s.acquire('d1', 0, new AbortController().signal)).rejects.toThrow('held by ops');
  });

  it('take-over: a free lock is acquired; a stale one of the same deploy is taken over with a warning; a store that cannot take over refuses', async () => {
    const free = recordingStore({ info: null });
    const a = sessionWithEvents(free.store);
    await a.s.takeOver('d1');
    expect(free.calls).toContain('acquire d1 wait=0');
    expect(a.s.held).toBe(true);
    await a.s.release();

    const stale = recordingStore({ info: held(true, { ...them, deploymentId: 'd1' }) });
    const b = sessionWithEvents(stale.store);
    await b.s.takeOver('d1');
    expect(stale.calls).toContain('takeOver d1 by me');
    expect(b.events.map((e) => [e.type, e.message])).toEqual([['warn', 'Taking over the lock of deploy d1 from ops@laptop (pid 77): pid 77 is gone']]);
    await b.s.release();

    const live = recordingStore({ info: held(false, { ...them, deploymentId: 'd1' }) });
    const c = sessionWithEvents(live.store);
    await c.s.takeOver('d1');
    expect(c.events[0].message).toMatch(/: holder gone$/);
    await c.s.release();

    const cannot = recordingStore({ info: held(true, { ...them, deploymentId: 'd1' }), takeOver: false });
    await expect(sessionWithEvents(cannot.store).s.takeOver('d1')).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining('ops@laptop') });

    const other = recordingStore({ info: held(false, { ...them, deploymentId: 'd9' }) });
    await expect(sessionWithEvents(other.store).s.takeOver('d1')).rejects.toMatchObject({ exitCode: 3, hint: expect.stringContaining('Wait for it to finish') });
    expect(other.calls.some((c) => c.startsWith('takeOver') || c.startsWith('acquire'))).toBe(false);
  });

  it('acting without the lock is a zdd bug, said so; every provider write is counted only once the lock is confirmed', async () => {
    const { store, state } = recordingStore();
    const { s } = sessionWithEvents(store);
    await expect(s.assertHeld()).rejects.toMatchObject({ code: 'lock-missing', message: expect.stringContaining('without holding its lock') });
    await expect(s.beforeProviderWrite()).rejects.toMatchObject({ code: 'lock-missing' });
    expect(s.providerWrites).toBe(0);
    await s.acquire('d1', 0);
    await s.beforeProviderWrite();
    await s.beforeProviderWrite();
    expect(s.providerWrites).toBe(2);
    state.token = 'other';
    await expect(s.beforeProviderWrite()).rejects.toBeInstanceOf(LockLostError);
    expect(s.providerWrites).toBe(2);
  });

  it('check() finds a lost lock and aborts the run signal; a lost lock is not released (it is not ours)', async () => {
    const { store, state, calls } = recordingStore();
    const { s } = sessionWithEvents(store);
    await s.check(); // before acquiring: nothing to check
    expect(calls.filter((c) => c.startsWith('heartbeat'))).toEqual([]);
    await s.acquire('d1', 0);
    await s.check();
    expect(s.signal.aborted).toBe(false);
    state.token = 'other';
    await s.check();
    expect(s.signal.aborted).toBe(true);
    expect(s.signal.reason).toBeInstanceOf(LockLostError);
    expect(s.held).toBe(false);
    const beats = calls.filter((c) => c.startsWith('heartbeat')).length;
    await s.check();
    expect(calls.filter((c) => c.startsWith('heartbeat')).length).toBe(beats);
    expect(await s.release()).toEqual({ ok: true });
    expect(calls).not.toContain('release t1');
  });

  it('the lost error names the holder the store reports when the heartbeat could not say', async () => {
    const { store, state } = recordingStore({ info: held(false) });
    const { s } = sessionWithEvents(store);
    await s.acquire('d1', 0);
    state.token = 'other';
    const err = await s.assertHeld().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toContain('now held by ops@laptop');
  });

  it('the background heartbeat finds the loss with no write in sight, and stops beating', async () => {
    const { store, state, calls } = recordingStore();
    const { s } = sessionWithEvents(store, new FakeClock(), 10);
    await s.acquire('d1', 0);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls.filter((c) => c.startsWith('heartbeat')).length).toBeGreaterThan(1);
    expect(s.signal.aborted).toBe(false);
    state.token = 'other';
    await new Promise((r) => setTimeout(r, 60));
    expect(s.signal.aborted).toBe(true);
    const beats = calls.filter((c) => c.startsWith('heartbeat')).length;
    await new Promise((r) => setTimeout(r, 60));
    expect(calls.filter((c) => c.startsWith('heartbeat')).length).toBe(beats);
  });

  it('after release the heartbeat stops', async () => {
    const { store, calls } = recordingStore();
    const { s } = sessionWithEvents(store, new FakeClock(), 10);
    await s.acquire('d1', 0);
    await new Promise((r) => setTimeout(r, 30));
    expect(await s.release()).toEqual({ ok: true });
    expect(s.held).toBe(false);
    const beats = calls.filter((c) => c.startsWith('heartbeat')).length;
    await new Promise((r) => setTimeout(r, 60));
    expect(calls.filter((c) => c.startsWith('heartbeat')).length).toBe(beats);
    expect(await s.release()).toEqual({ ok: true });
    expect(calls.filter((c) => c === 'release t1')).toHaveLength(1);
  });

  it('without a lease length from the store, a failing store is tolerated for 2 minutes', async () => {
    const failing: LockStore = {
      fence: async () => null,
      acquire: async () => ({ token: 't', heartbeat: async () => Promise.reject(new Error('EIO')), release: async () => undefined }),
      inspect: async () => ({ holder: me, heartbeat: '', stale: false }) as unknown as LockInfo,
      forceRelease: async () => true,
    };
    const clock = new FakeClock();
    const { s, events } = sessionWithEvents(failing, clock);
    await s.acquire('d1', 0);
    await new Promise((r) => setTimeout(r, 10)); // the store was asked for the lease length
    await clock.advance(119_000);
    await s.assertHeld();
    expect(events.at(-1)?.message).toBe('Lock heartbeat failed (lease still valid for 1s): EIO');
    await clock.advance(1_000);
    await expect(s.assertHeld()).rejects.toThrow(/heartbeats failed for 2m, longer than the lease \(2m\): EIO/);
    await s.release();
  });

  it("a heartbeat that succeeds renews the lease: the next failure counts from it", async () => {
    let fail = false;
    const flaky: LockStore = {
      fence: async () => null,
      acquire: async () => ({ token: 't', heartbeat: async () => (fail ? Promise.reject(new Error('EIO')) : undefined), release: async () => undefined }),
      inspect: async () => null,
      forceRelease: async () => true,
    };
    const clock = new FakeClock();
    const { s, events } = sessionWithEvents(flaky, clock);
    await s.acquire('d1', 0);
    await clock.advance(100_000);
    await s.assertHeld();
    fail = true;
    await clock.advance(100_000);
    await s.assertHeld();
    expect(events.at(-1)?.message).toBe('Lock heartbeat failed (lease still valid for 20s): EIO');
    await s.release();
  });
});
