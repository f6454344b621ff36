import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockHeldError, LockLostError } from '../../src/core/errors.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { MemoryStateStore } from '../../src/state/memory-state-store.js';

/**
 * The engine's unit tests run on the memory store (test/engine/engine-harness.ts): it must keep the
 * file store's promises, or those tests would pass on behaviour no real store has. Its fence is in
 * the lock-store contract (lock-store.contract.test.ts); this file holds the rest.
 */

const record = (id: string, startedAt: string): DeploymentRecord =>
  ({ id, service: 'web', startedAt, status: 'running', plan: [], stepIndex: 0, weights: { stable: 100, candidate: 0 } }) as unknown as DeploymentRecord;

describe('the memory state store', () => {
  it('keeps a record as it was saved: changing the object afterwards, or what a read returned, changes nothing stored', async () => {
    const store = new MemoryStateStore(new FakeClock());
    const r = record('d1', '2026-12-04T10:00:00.000Z');
    await store.records.save(r);
    r.status = 'succeeded';
    const read = (await store.records.latest('web'))!;
    expect(read.status).toBe('running');
    read.status = 'failed';
    expect((await store.records.latest('web'))!.status).toBe('running');
    expect((await store.records.history('web', 10))[0]!.status).toBe('running');
  });

  it('latest is the last saved; history is newest first by start, at most `limit`, per service', async () => {
    const store = new MemoryStateStore(new FakeClock());
    await store.records.save(record('b', '2026-12-04T10:00:02.000Z'));
    await store.records.save(record('a', '2026-12-04T10:00:01.000Z'));
    await store.records.save(record('c', '2026-12-04T10:00:03.000Z'));
    await store.records.save({ ...record('b', '2026-12-04T10:00:02.000Z'), status: 'succeeded' } as DeploymentRecord);
    expect((await store.records.latest('web'))!).toMatchObject({ id: 'b', status: 'succeeded' });
    expect((await store.records.history('web', 10)).map((x) => x.id)).toEqual(['c', 'b', 'a']);
    expect((await store.records.history('web', 2)).map((x) => x.id)).toEqual(['c', 'b']);
    expect(await store.records.latest('api')).toBeNull();
    expect(await store.records.history('api', 10)).toEqual([]);
  });

  it('requests: the newest of each kind per deploy, and a watcher hears each one until it stops watching', async () => {
    const store = new MemoryStateStore(new FakeClock());
    let heard = 0;
    const stop = await store.records.watchRequests!('web', () => heard++);
    await store.records.request('web', 'd1', 'abort', { at: '2026-12-04T10:00:00.000Z', by: 'ops' });
    await store.records.request('web', 'd1', 'promote', { at: '2026-12-04T10:00:01.000Z', stepIndex: 3 });
    await store.records.request('web', 'd1', 'promote', { at: '2026-12-04T10:00:02.000Z', stepIndex: 5 });
    await new Promise((r) => setImmediate(r));
    expect(heard).toBe(3);
    expect(await store.records.requests('web', 'd1')).toEqual({ abort: { at: '2026-12-04T10:00:00.000Z', by: 'ops' }, promote: { at: '2026-12-04T10:00:02.000Z', stepIndex: 5 } });
    expect(await store.records.requests('web', 'd2')).toEqual({});
    stop();
    await store.records.request('web', 'd1', 'abort', { at: '2026-12-04T10:00:03.000Z' });
    await new Promise((r) => setImmediate(r));
    expect(heard).toBe(3);
  });

  it('the lock: one holder; a heartbeat keeps it; a stale one is taken over by its own deploy only; a lost lease stops its holder', async () => {
    const clock = new FakeClock();
    const { lock } = new MemoryStateStore(clock, 1000);
    const holder = { who: 'ci', host: 'h', pid: 4242, since: '2026-12-04T10:00:00.000Z', deploymentId: 'd1' };
    const lease = await lock.acquire('web', holder, { waitMs: 0 });
    await expect(lock.acquire('web', { ...holder, pid: 5 }, { waitMs: 0 })).rejects.toBeInstanceOf(LockHeldError);
    await expect(lock.takeOver!('web', { ...holder, pid: 5 }, 'd1')).rejects.toBeInstanceOf(LockHeldError);
    clock.advance(900);
    await lease.heartbeat();
    clock.advance(900);
    expect((await lock.inspect('web'))!.stale).toBe(false);
    clock.advance(200);
    expect((await lock.inspect('web'))!.stale).toBe(true);
    await expect(lock.takeOver!('web', { ...holder, pid: 6 }, 'd9')).rejects.toThrow(/another deploy \(d1\)/);
    const taken = await lock.takeOver!('web', { ...holder, pid: 6 }, 'd1');
    await expect(lease.heartbeat()).rejects.toBeInstanceOf(LockLostError);
    await lease.release();
    expect((await lock.inspect('web'))!.holder.pid).toBe(6);
    await taken.release();
    expect(await lock.inspect('web')).toBeNull();
    expect(await lock.forceRelease('web')).toBe(false);
  });
});
