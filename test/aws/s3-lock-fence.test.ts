import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LockHeldError, LockLostError, type LockHolderInfo } from '../../src/core/errors.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { S3LockBench } from '../helpers/s3-lock-harness.js';

/**
 * The S3 lock's fence (LockStore.fence: a provider's watchdog holds a dead deploy's lock while it
 * acts), S3 only, on a real S3 emulator: which locks it fences, what it writes, and the races of its
 * conditional writes (a holder renewing, another machine taking the lock, between a read and the
 * write). test/state/lock-store.contract.test.ts holds every store to the same promises; this file
 * is the S3 store's own, fast, so that `npm run mutate -- s3-lock` runs it.
 *
 * Behind a proxy that strips S3's Date header the store judges staleness on zdd's clock (with the
 * clock margin): a FakeClock makes a lock stale without waiting.
 */
const LEASE_MS = 60_000;
const STALE_MS = LEASE_MS + CLOCK_MARGIN_MS + 1_000;

const deploy = (over: Partial<LockHolderInfo> = {}): LockHolderInfo => ({ who: 'ci', host: 'runner-7', pid: 4242, since: '2026-12-01T00:00:00.000Z', deploymentId: 'd1', ...over });
const watchdog: LockHolderInfo = {
  who: 'zdd-router',
  host: 'runner-7',
  pid: 99,
  since: '2026-12-01T00:01:00.000Z',
  watchdog: { name: 'the test watchdog', action: 'puts traffic back on stable' },
};

describe.skipIf(skipWithoutMoto())('the S3 lock fence (moto)', () => {
  let bench: S3LockBench;
  beforeAll(async () => {
    bench = await S3LockBench.start();
  });
  afterAll(() => bench?.stop());
  beforeEach(() => bench.reset());

  const storeWithRace = () => bench.store(LEASE_MS);
  /** Another machine writes the lock object as its own (a take-over it won). */
  const writeLockAs = (pid: number) => bench.writeLockAs(deploy({ pid }), LEASE_MS);

  it('a free lock, a live one and another deploy\'s stale one are not fenced, and nothing is written', async () => {
    const s = await storeWithRace();
    const { store } = s;
    expect(await store.fence('web', 'd1', watchdog), 'free').toBeNull();
    expect(await store.inspect('web'), 'a refused fence creates no lock').toBeNull();

    await store.acquire('web', deploy(), { waitMs: 0 });
    s.writes.puts = 0;
    await s.clock.advance(LEASE_MS);
    expect(await store.fence('web', 'd1', watchdog), 'live (within its lease and the clock margin)').toBeNull();
    await s.clock.advance(STALE_MS - LEASE_MS);
    expect(await store.fence('web', 'd0', watchdog), "another deploy's").toBeNull();
    expect(s.writes.puts).toBe(0);
    expect((await store.inspect('web'))?.holder).toMatchObject({ who: 'ci', pid: 4242, deploymentId: 'd1' });
  });

  it("a stale lock is fenced in the watchdog's name: it holds off every other deploy and the old holder, until freed", async () => {
    const s = await storeWithRace();
    const { store } = s;
    const lease = await store.acquire('web', deploy(), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    expect((await store.inspect('web'))?.stale).toBe(true);

    const fence = await store.fence('web', 'd1', watchdog);
    expect(fence).not.toBeNull();
    const held = await store.inspect('web');
    expect(held?.holder).toMatchObject({ who: 'zdd-router', pid: 99, deploymentId: 'd1', watchdog: watchdog.watchdog });
    expect(held?.holder.token).not.toBe(lease.token);
    expect(held?.stale, 'the fence writes a fresh heartbeat').toBe(false);
    expect(await store.fence('web', 'd1', { ...watchdog, pid: 100 }), 'a second watchdog').toBeNull();

    await expect(store.acquire('web', deploy({ deploymentId: 'd2', pid: 7 }), { waitMs: 0 })).rejects.toBeInstanceOf(LockHeldError);
    await expect(store.takeOver!('web', deploy({ pid: 5 }), 'd1'), 'a take-over of the fenced lock').rejects.toMatchObject({ stale: false });
    const lost = await lease.heartbeat().catch((e) => e);
    expect(lost, 'the old holder, waking up, stops before its next change').toBeInstanceOf(LockLostError);
    expect(lost.holder).toMatchObject({ who: 'zdd-router', pid: 99 });
    expect((await store.inspect('web'))?.holder.pid, 'the failed heartbeat wrote nothing').toBe(99);

    await fence!.free('put traffic back on stable');
    expect(await store.inspect('web'), 'free for the operator afterwards').toBeNull();
    await expect(fence!.free('put traffic back on stable'), 'freeing twice').resolves.toBeUndefined();
    await expect(lease.heartbeat()).rejects.toMatchObject({ reason: expect.stringContaining('it was released') });
    const next = await store.acquire('web', deploy({ deploymentId: 'd2', pid: 7 }), { waitMs: 0 });
    expect((await store.inspect('web'))?.holder.token).toBe(next.token);
  });

  it('a holder that renews between the fence\'s read and its write keeps its lock', async () => {
    const s = await storeWithRace();
    const { store } = s;
    const lease = await store.acquire('web', deploy(), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    s.before((command) => command === 'PutObjectCommand', () => lease.heartbeat());
    expect(await store.fence('web', 'd1', watchdog)).toBeNull();
    expect((await store.inspect('web'))?.holder).toMatchObject({ who: 'ci', pid: 4242, token: lease.token });
    await expect(lease.heartbeat(), 'the holder goes on').resolves.toBeUndefined();
    await lease.release();
    expect(await store.inspect('web')).toBeNull();
  });

  it('a lock another machine takes over between the fence\'s read and its write stays with that machine', async () => {
    const s = await storeWithRace();
    const { store } = s;
    await store.acquire('web', deploy(), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    s.before((command) => command === 'PutObjectCommand', () => writeLockAs(77));
    expect(await store.fence('web', 'd1', watchdog)).toBeNull();
    expect((await store.inspect('web'))?.holder.pid).toBe(77);
  });

  it("freeing a fence leaves alone a lock someone else took meanwhile, also one taken between the free's read and its delete", async () => {
    const s = await storeWithRace();
    const { store } = s;
    await store.acquire('web', deploy(), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    const first = await store.fence('web', 'd1', watchdog);
    expect(first).not.toBeNull();
    await store.forceRelease('web');
    const other = await store.acquire('web', deploy({ deploymentId: 'd3', pid: 8 }), { waitMs: 0 });
    s.writes.deletes = 0;
    await first!.free('put traffic back on stable');
    expect(s.writes.deletes, 'not even tried').toBe(0);
    expect((await store.inspect('web'))?.holder).toMatchObject({ deploymentId: 'd3', pid: 8 });
    await other.release();

    await store.acquire('web', deploy(), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    const second = await store.fence('web', 'd1', watchdog);
    expect(second).not.toBeNull();
    s.before((command) => command === 'DeleteObjectCommand', () => writeLockAs(77));
    await second!.free('put traffic back on stable');
    expect((await store.inspect('web'))?.holder.pid).toBe(77);
  });
});
