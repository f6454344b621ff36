import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LockHeldError, LockLostError, type LockHolderInfo } from '../../src/core/errors.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { S3LockBench, startStrippingProxy } from '../helpers/s3-lock-harness.js';

/**
 * The S3 lock's conditional writes when they lose twice over: another machine writes first, then
 * releases before zdd reads who won. zdd then knows only that it lost: the error is a held lock (exit
 * 3) or a lost one, never a crash, and never "stale". A write that landed is trusted: a lock taken
 * right after it is the next heartbeat's news. Also staleness on an S3 that sends no Last-Modified
 * (zdd's clock then, as without a Date header).
 */
const LEASE_MS = 60_000;
const STALE_MS = LEASE_MS + CLOCK_MARGIN_MS + 1_000;
const deploy = (over: Partial<LockHolderInfo> = {}): LockHolderInfo => ({ who: 'ci', host: 'runner-7', pid: 4242, since: '2026-12-01T00:00:00.000Z', deploymentId: 'd1', ...over });

describe.skipIf(skipWithoutMoto())('the S3 lock when a race is lost and the winner is already gone (moto)', () => {
  let bench: S3LockBench;
  beforeAll(async () => {
    bench = await S3LockBench.start();
  });
  afterAll(() => bench?.stop());
  beforeEach(() => bench.reset());

  /** Before the store's next write, another machine takes the lock; before the read after it, that machine releases it. */
  const takeThenRelease = (s: Awaited<ReturnType<S3LockBench['store']>>) =>
    s.before(
      (command) => command === 'PutObjectCommand',
      async () => {
        await bench.writeLockAs(deploy({ pid: 77 }), LEASE_MS);
        s.before((command) => command === 'GetObjectCommand', () => bench.removeLock());
      },
    );

  it('a take-over of a free lock that loses its create: a held lock, not a stale one', async () => {
    const s = await bench.store(LEASE_MS);
    takeThenRelease(s);
    const e = await s.store.takeOver!('web', deploy({ pid: 9 }), 'd1').catch((err) => err);
    expect(e).toBeInstanceOf(LockHeldError);
    expect(e.exitCode).toBe(3);
    expect(e.stale).toBe(false);
    expect(e.message).not.toContain('stale');
    expect(await s.store.inspect('web')).toBeNull();
  });

  it("a take-over of a stale lock that loses its write: a held lock, naming the holder it read, not stale", async () => {
    const s = await bench.store(LEASE_MS);
    await s.store.acquire('web', deploy({ pid: 1 }), { waitMs: 0 });
    await s.clock.advance(STALE_MS);
    takeThenRelease(s);
    const e = await s.store.takeOver!('web', deploy({ pid: 9 }), 'd1').catch((err) => err);
    expect(e).toBeInstanceOf(LockHeldError);
    expect(e.holder.pid).toBe(1);
    expect(e.stale).toBe(false);
    expect(e.message).not.toContain('stale');
  });

  it('a heartbeat that loses its write to a lock released right after: the lock is lost, "it was released"', async () => {
    const s = await bench.store(LEASE_MS);
    const lease = await s.store.acquire('web', deploy({ pid: 1 }), { waitMs: 0 });
    takeThenRelease(s);
    const e = await lease.heartbeat().catch((err) => err);
    expect(e).toBeInstanceOf(LockLostError);
    expect(e.reason).toBe('it was released (zdd lock release --force?)');
    expect(e.holder).toBeNull();
  });

  it.each([
    ['a free lock (its create)', false],
    ['a stale lock (its replace)', true],
  ])('a take-over of %s that landed holds, even if another machine takes the lock right after: the next heartbeat says so', async (_what, stale) => {
    const s = await bench.store(LEASE_MS);
    if (stale) {
      await s.store.acquire('web', deploy({ pid: 1 }), { waitMs: 0 });
      await s.clock.advance(STALE_MS);
    }
    s.before(
      (command) => command === 'PutObjectCommand',
      async () => s.before((command) => command === 'GetObjectCommand', () => bench.writeLockAs(deploy({ pid: 77 }), LEASE_MS)),
    );
    const lease = await s.store.takeOver!('web', deploy({ pid: 9 }), 'd1');
    const e = await lease.heartbeat().catch((err) => err);
    expect(e).toBeInstanceOf(LockLostError);
    expect(e.holder.pid).toBe(77);
  });

  it("an S3 that sends no Last-Modified: staleness is the heartbeat on zdd's clock, with the clock margin", async () => {
    const proxy = await startStrippingProxy(bench.moto.endpoint, ['last-modified']);
    try {
      const s = await bench.store(LEASE_MS, proxy.endpoint);
      await s.store.acquire('web', deploy(), { waitMs: 0 });
      await s.clock.advance(LEASE_MS + CLOCK_MARGIN_MS);
      expect((await s.store.inspect('web'))?.stale).toBe(false);
      await s.clock.advance(1_000);
      expect((await s.store.inspect('web'))?.stale).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
