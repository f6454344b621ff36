import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockHeldError, ZddError } from '../../src/core/errors.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { DEFAULT_LEASE_MS, FileStateStore } from '../../src/state/file-state-store.js';

let dir: string;
let clock: FakeClock;
let store: FileStateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-state-'));
  clock = new FakeClock(Date.UTC(2026, 10, 25, 12));
  store = new FileStateStore(dir, clock);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const holder = (over: Partial<{ host: string; pid: number }> = {}) => ({ who: 'ana', host: 'ci-runner-7', pid: 4242, since: '2026-11-25T12:00:00.000Z', ciRunUrl: 'https://ci.example/run/1', ...over });

function record(id: string, at: number) {
  return newRecord({ id, service: 'web', strategy: 'canary', stable: null, candidate: { id }, plan: [], by: holder(), now: at });
}

describe('records', () => {
  it('save makes a record the latest, history lists newest first', async () => {
    await store.records.save(record('a', 1000));
    await store.records.save(record('b', 2000));
    expect((await store.records.latest('web'))?.id).toBe('b');
    expect((await store.records.history('web', 10)).map((r) => r.id)).toEqual(['b', 'a']);
    expect(await store.records.latest('other')).toBeNull();
  });

  it('a corrupt state file is a clear error naming the file', async () => {
    await store.records.save(record('a', 1000));
    writeFileSync(join(dir, 'web', 'latest.json'), '{ half a rec');
    const err = await store.records.latest('web').catch((e) => e);
    expect(err).toBeInstanceOf(ZddError);
    expect(err.message).toBe(`State file ${join(dir, 'web', 'latest.json')} is not valid JSON`);
  });

  it('files are written 0600 so other users cannot read deployment records', async () => {
    await store.records.save(record('a', 1000));
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'web', 'latest.json')).mode & 0o777).toBe(0o600);
  });
});

describe('lock', () => {
  it('a second acquire fails with exit 3 naming the holder and its CI run', async () => {
    await store.lock.acquire('web', holder(), { waitMs: 0 });
    const err = await store.lock.acquire('web', holder({ pid: 99 }), { waitMs: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe('Service "web" is locked by ana@ci-runner-7 (pid 4242, CI run https://ci.example/run/1) since 2026-11-25T12:00:00.000Z');
  });

  it('--lock-wait: acquire waits and succeeds once the holder releases', async () => {
    const first = await store.lock.acquire('web', holder(), { waitMs: 0 });
    const waiting = store.lock.acquire('web', holder({ pid: 99 }), { waitMs: 60_000, pollMs: 1000 });
    await clock.advance(3000);
    await first.release();
    await clock.advance(1000);
    const lease = await waiting;
    expect((await store.lock.inspect('web'))?.holder.pid).toBe(99);
    await lease.release();
    expect(await store.lock.inspect('web')).toBeNull();
  });

  it('a lock whose holder stopped heartbeating is stale after its lease', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await clock.advance(DEFAULT_LEASE_MS - 1000);
    expect((await store.lock.inspect('web'))?.stale).toBe(false);
    await lease.heartbeat();
    await clock.advance(DEFAULT_LEASE_MS - 1000);
    expect((await store.lock.inspect('web'))?.stale).toBe(false);
    await clock.advance(2000);
    const info = await store.lock.inspect('web');
    expect(info?.stale).toBe(true);
    expect(info?.staleReason).toBe('no heartbeat for 121s (lease 120s)');
  });

  it('a lock held by a dead process on this host is stale at once', async () => {
    const { hostname } = await import('node:os');
    await store.lock.acquire('web', holder({ host: hostname(), pid: 2 ** 22 + 12345 }), { waitMs: 0 });
    expect((await store.lock.inspect('web'))?.staleReason).toMatch(/^process \d+ on .* is no longer running$/);
  });

  it('release only removes our own lock; forceRelease removes any', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await store.lock.forceRelease('web');
    const other = await store.lock.acquire('web', holder({ pid: 7 }), { waitMs: 0 });
    await lease.release();
    expect((await store.lock.inspect('web'))?.holder.pid).toBe(7);
    await expect(lease.heartbeat()).resolves.toBeUndefined();
    await other.release();
  });

  it('a lease whose lock was taken by someone else says so on heartbeat', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await store.lock.forceRelease('web');
    await store.lock.acquire('web', holder({ pid: 7 }), { waitMs: 0 });
    await expect(lease.heartbeat()).rejects.toThrow(/was released or taken by someone else/);
    expect(JSON.parse(readFileSync(join(dir, 'web', 'lock.json'), 'utf8')).holder.pid).toBe(7);
  });
});
