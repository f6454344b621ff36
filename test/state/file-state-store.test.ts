import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockHeldError, LockLostError, ZddError } from '../../src/core/errors.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { DEFAULT_LEASE_MS, FileLockStore, FileStateStore } from '../../src/state/file-state-store.js';
import { processStartTime } from '../../src/core/proc-stat.js';
import { holderIsDead, pidScope } from '../../src/state/lock-holder.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';

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

describe('requests from other processes', () => {
  it('a request has its own file per deployment and kind: the record and history are left alone', async () => {
    await store.records.save(record('a', 1000));
    const before = await store.records.latest('web');
    expect(await store.records.requests('web', 'a')).toEqual({});
    await store.records.request('web', 'a', 'abort', { at: '2026-11-25T12:00:01.000Z' });
    await store.records.request('web', 'a', 'promote', { at: '2026-11-25T12:00:02.000Z', stepIndex: 2 });
    await store.records.request('web', 'a', 'promote', { at: '2026-11-25T12:00:03.000Z', stepIndex: 4 });
    expect(await store.records.requests('web', 'a')).toEqual({ abort: { at: '2026-11-25T12:00:01.000Z' }, promote: { at: '2026-11-25T12:00:03.000Z', stepIndex: 4 } });
    expect(await store.records.requests('web', 'b')).toEqual({});
    expect(await store.records.latest('web')).toEqual(before);
    expect((await store.records.history('web', 10)).map((r) => r.id)).toEqual(['a']);
  });

  it('a damaged request file is a clear error naming it', async () => {
    await store.records.request('web', 'a', 'abort', { at: 'x' });
    writeFileSync(join(dir, 'web', 'requests', 'a.abort.json'), '{ half');
    await expect(store.records.requests('web', 'a')).rejects.toThrow(/a\.abort\.json/);
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

  it('a lock whose holder stopped heartbeating is stale after its lease plus the clock margin', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await clock.advance(DEFAULT_LEASE_MS - 1000);
    expect((await store.lock.inspect('web'))?.stale).toBe(false);
    await lease.heartbeat();
    // The holder's clock may run behind ours: the lease alone is not enough to call it stale.
    await clock.advance(DEFAULT_LEASE_MS + CLOCK_MARGIN_MS - 1000);
    expect((await store.lock.inspect('web'))?.stale).toBe(false);
    await clock.advance(2000);
    const info = await store.lock.inspect('web');
    expect(info?.stale).toBe(true);
    expect(info?.staleReason).toBe('no heartbeat for 151s (lease 120s)');
  });

  it('a holder whose clock is 20s behind ours is not stale while it heartbeats', async () => {
    const behind = new FileStateStore(dir, new FakeClock(clock.now() - 20_000));
    const lease = await behind.lock.acquire('web', holder(), { waitMs: 0 });
    await clock.advance(DEFAULT_LEASE_MS - 5000);
    await lease.heartbeat();
    expect((await store.lock.inspect('web'))?.stale).toBe(false);
  });

  it('release only removes our own lock; forceRelease removes any', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await store.lock.forceRelease('web');
    const other = await store.lock.acquire('web', holder({ pid: 7 }), { waitMs: 0 });
    await lease.release();
    expect((await store.lock.inspect('web'))?.holder.token).toBe(other.token);
    await expect(lease.heartbeat()).resolves.toBeUndefined();
    await other.release();
    expect(await store.lock.inspect('web')).toBeNull();
  });

  it('heartbeats called while one runs share it: they never overlap', async () => {
    const { readdirSync } = await import('node:fs');
    const gens = () => readdirSync(join(dir, 'web', 'lock')).filter((n) => /^\d+\.json$/.test(n)).sort().at(-1);
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    const before = Number(gens()!.slice(0, 12));
    await Promise.all([lease.heartbeat(), lease.heartbeat(), lease.heartbeat()]);
    expect(Number(gens()!.slice(0, 12))).toBe(before + 1);
  });

  it('a lease whose lock was taken by someone else says so on heartbeat', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await store.lock.forceRelease('web');
    await store.lock.acquire('web', holder({ pid: 7 }), { waitMs: 0 });
    const err = await lease.heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe('Lost the lock of service "web": another process took it over. It is now held by ana@ci-runner-7 (pid 7) since 2026-11-25T12:00:00.000Z. Stopped before the next change.');
    expect((await store.lock.inspect('web'))?.holder.pid).toBe(7);
  });
});

describe("the local router's dead-man's switch fences the lock before it acts", () => {
  const router = { who: 'zdd-router', host: 'ci-runner-7', pid: 99, since: '2026-11-25T12:00:00.000Z', watchdog: { name: "the local router's dead-man's switch", action: 'puts traffic back on stable' } };
  const locks = () => new FileLockStore(dir, clock);

  it('a frozen holder that wakes up after the fence stops at its next heartbeat, saying the switch took its lock', async () => {
    const lease = await store.lock.acquire('web', { ...holder(), deploymentId: 'd1' }, { waitMs: 0 });
    expect(await locks().fence('web', 'd1', router), 'a live lock is never fenced').toBeNull();
    await clock.advance(DEFAULT_LEASE_MS + CLOCK_MARGIN_MS + 1000);
    const fence = await locks().fence('web', 'd1', router);
    expect(fence).not.toBeNull();
    expect((await store.lock.inspect('web'))?.holder.who, 'held by the router while it restores').toBe('zdd-router');
    await fence!.free('put traffic back on stable (no heartbeat for 151s (lease 120s); 100% back on v1)');
    expect(await store.lock.inspect('web'), 'free for the operator afterwards').toBeNull();
    const err = await lease.heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(err.message).toMatch(/^Lost the lock of service "web": the local router's dead-man's switch took it at \S+ and put traffic back on stable \(no heartbeat for 151s \(lease 120s\); 100% back on v1\)\. Stopped before the next change\.$/);
    expect(err.exitCode).toBe(4);
  });

  it('a holder that renewed first keeps its lock: the fence is refused, and so is one for another deploy', async () => {
    const lease = await store.lock.acquire('web', { ...holder(), deploymentId: 'd1' }, { waitMs: 0 });
    await clock.advance(DEFAULT_LEASE_MS + CLOCK_MARGIN_MS + 1000);
    expect(await locks().fence('web', 'other', router)).toBeNull();
    await lease.heartbeat();
    expect(await locks().fence('web', 'd1', router)).toBeNull();
    await expect(lease.heartbeat()).resolves.toBeUndefined();
  });

  it('a lock released with --force says so to its holder', async () => {
    const lease = await store.lock.acquire('web', holder(), { waitMs: 0 });
    await store.lock.forceRelease('web');
    const err = await lease.heartbeat().catch((e) => e);
    expect(err.message).toMatch(/it was released with `zdd lock release --force` at /);
  });
});

describe('lock holder identity: (host, pid, token), never the pid alone', () => {
  const gone = 2 ** 22 + 12345; // above the default pid_max: no such process here
  const here = { who: 'ci', host: hostname(), pid: gone, since: '2026-11-25T12:00:00.000Z' };

  it('a missing pid in our own pid scope is a dead holder', () => {
    expect(holderIsDead(here, { scope: pidScope() })).toBe(true);
  });

  it('the same pid on another host is not dead: the lease decides', () => {
    expect(holderIsDead({ ...here, host: 'other-runner' }, { scope: pidScope() })).toBe(false);
  });

  it('the same host name in another container (other pid namespace) is not dead', () => {
    expect(holderIsDead(here, { scope: 'linux:other-boot:pid:[4026532000]' })).toBe(false);
  });

  it('a lock stored without a pid scope is never judged by its pid', () => {
    expect(holderIsDead(here, undefined)).toBe(false);
  });

  it('a live pid that started at another time is a reused pid: the holder is gone', () => {
    const ppid = { ...here, pid: process.ppid };
    expect(holderIsDead(ppid, { scope: pidScope(), start: '1' })).toBe(true);
    expect(holderIsDead(ppid, { scope: pidScope() })).toBe(false);
  });

  it('a killed holder not yet reaped (a zombie, as a detached deploy under a lazy init) is dead at once', async () => {
    // sh forks the victim, then becomes a `sleep` that never reaps it: killed, it stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((res) => parent.stdout!.once('data', (d) => res(String(d)))));
      const proc = { scope: pidScope(), start: processStartTime(pid) };
      expect(holderIsDead({ ...here, pid }, proc)).toBe(false);
      process.kill(pid, 'SIGKILL');
      await expect.poll(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0], { timeout: 2_000, interval: 20 }).toBe('Z');
      expect(holderIsDead({ ...here, pid }, proc)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('each acquisition gets its own random token, recorded with the holder', async () => {
    const a = await store.lock.acquire('web', holder(), { waitMs: 0 });
    expect(a.token).toMatch(/^[0-9a-f]{32}$/);
    expect((await store.lock.inspect('web'))?.holder.token).toBe(a.token);
    await a.release();
    const b = await store.lock.acquire('web', holder(), { waitMs: 0 });
    expect(b.token).not.toBe(a.token);
  });
});

describe('a lock.json written by zdd 0.1', () => {
  const legacy = (heartbeat: string) =>
    writeFileSync(join(dir, 'web', 'lock.json'), JSON.stringify({ holder: { who: 'old', host: 'ci-runner-7', pid: 4242, since: heartbeat }, heartbeat, leaseMs: 120_000, token: 'old' }));

  it('is honoured as a held lock until it is released or taken over', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'web'), { recursive: true });
    legacy(new Date(clock.now()).toISOString());
    await expect(store.lock.acquire('web', holder({ pid: 5 }), { waitMs: 0 })).rejects.toBeInstanceOf(LockHeldError);
    expect(await store.lock.forceRelease('web')).toBe(true);
    const lease = await store.lock.acquire('web', holder({ pid: 5 }), { waitMs: 0 });
    expect((await store.lock.inspect('web'))?.holder.token).toBe(lease.token);
  });
});
