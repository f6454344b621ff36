import { describe, expect, it } from 'vitest';
import { LockHeldError, LockLostError, type LockHolderInfo } from '../../src/core/errors.js';
import type { LockStore } from '../../src/core/state.js';

/**
 * The fence every lock store offers a provider's watchdog (LockStore.fence), the same way on each:
 * the file store, the memory store (the engine's unit tests), S3 on moto, and a Lease on a genuine
 * kube-apiserver (test/helpers/kube.ts).
 */
export interface StoreUnderTest {
  store: LockStore;
  /** Let the lock's lease run out, as the store judges it. */
  makeStale(): Promise<void>;
}

export const LEASE_MS = 1_000;
const deploy = (over: Partial<LockHolderInfo> = {}): LockHolderInfo => ({ who: 'ci', host: 'runner-7', pid: 4242, since: '2026-12-01T00:00:00.000Z', deploymentId: 'd1', ...over });
const watchdog: LockHolderInfo = { who: 'zdd-router', host: 'runner-7', pid: 99, since: '2026-12-01T00:01:00.000Z', watchdog: { name: 'the test watchdog', action: 'puts traffic back on stable' } };

export function describeLockFence(name: string, setup: () => Promise<StoreUnderTest>, opts: { skip?: boolean } = {}): void {
  describe.skipIf(opts.skip)(`LockStore.fence on ${name}`, { timeout: 60_000 }, () => {
    let n = 0;
    const service = () => `web${++n}-${Math.random().toString(36).slice(2, 6)}`;

    it('a free or live lock is never fenced, nor another deploy\'s stale one; a stale one is, once, and holds off everyone until freed', async () => {
      const { store, makeStale } = await setup();
      const svc = service();
      expect(await store.fence(svc, 'd1', watchdog), 'free').toBeNull();
      const lease = await store.acquire(svc, deploy(), { waitMs: 0 });
      expect(await store.fence(svc, 'd1', watchdog), 'live').toBeNull();
      await makeStale();
      expect((await store.inspect(svc))?.stale).toBe(true);
      expect(await store.fence(svc, 'd0', watchdog), "another deploy's").toBeNull();

      const fences = await Promise.all([store.fence(svc, 'd1', watchdog), store.fence(svc, 'd1', { ...watchdog, pid: 100 })]);
      expect(fences.filter((f) => f !== null), 'of two watchdogs at once, exactly one fences').toHaveLength(1);
      const fence = fences.find((f) => f !== null)!;
      const held = await store.inspect(svc);
      expect(held?.holder).toMatchObject({ who: 'zdd-router', deploymentId: 'd1', watchdog: watchdog.watchdog });
      expect(held?.stale).toBe(false);
      await expect(store.acquire(svc, deploy({ deploymentId: 'd2', pid: 7 }), { waitMs: 0 })).rejects.toBeInstanceOf(LockHeldError);
      await expect(lease.heartbeat(), 'the old holder, waking up, stops before its next change').rejects.toBeInstanceOf(LockLostError);

      await fence.free('put traffic back on stable');
      expect(await store.inspect(svc), 'free for the operator afterwards').toBeNull();
      await fence.free('put traffic back on stable');
      const next = await store.acquire(svc, deploy({ deploymentId: 'd2', pid: 7 }), { waitMs: 0 });
      await next.release();
    });

    it('a holder that renews first keeps its lock', async () => {
      const { store, makeStale } = await setup();
      const svc = service();
      const lease = await store.acquire(svc, deploy(), { waitMs: 0 });
      await makeStale();
      await lease.heartbeat();
      expect(await store.fence(svc, 'd1', watchdog)).toBeNull();
      await expect(lease.heartbeat()).resolves.toBeUndefined();
      await lease.release();
    });

    it('a fence and a take-over at once: exactly one gets the lock', async () => {
      const { store, makeStale } = await setup();
      const svc = service();
      await store.acquire(svc, deploy(), { waitMs: 0 });
      await makeStale();
      const [fence, takeOver] = await Promise.allSettled([store.fence(svc, 'd1', watchdog), store.takeOver!(svc, deploy({ pid: 5 }), 'd1')]);
      const fenced = fence.status === 'fulfilled' && fence.value !== null;
      const tookOver = takeOver.status === 'fulfilled';
      expect([fenced, tookOver].filter(Boolean), `fence ${fence.status}, take-over ${takeOver.status}`).toHaveLength(1);
      if (!tookOver) expect((takeOver as PromiseRejectedResult).reason).toBeInstanceOf(LockHeldError);
      expect((await store.inspect(svc))?.holder.pid).toBe(fenced ? 99 : 5);
    });

    it("freeing a fence leaves alone a lock someone else took meanwhile", async () => {
      const { store, makeStale } = await setup();
      const svc = service();
      await store.acquire(svc, deploy(), { waitMs: 0 });
      await makeStale();
      const fence = await store.fence(svc, 'd1', watchdog);
      expect(fence).not.toBeNull();
      await store.forceRelease(svc);
      const other = await store.acquire(svc, deploy({ deploymentId: 'd3', pid: 8 }), { waitMs: 0 });
      await fence!.free('put traffic back on stable');
      expect((await store.inspect(svc))?.holder).toMatchObject({ deploymentId: 'd3', pid: 8 });
      await other.release();
    });
  });
}
