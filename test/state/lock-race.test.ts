import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { FileLockStore } from '../../src/state/file-state-store.js';

// Real processes racing on one directory: two node processes per test, each running the built
// store (dist/), started together by a "go" file. Rounds are services: every service is one race.
const WORKER = resolve(import.meta.dirname, 'lock-worker.mjs');
const ROUNDS = 60;
const TEN_MINUTES_AGO = -10 * 60_000;

interface Line {
  i?: number;
  op?: string;
  ok?: boolean;
  token?: string;
  code?: string;
  name?: string;
  ready?: boolean;
  done?: boolean;
  tokens?: string[];
  pid?: number;
}

interface Worker {
  child: ChildProcess;
  lines: Line[];
  until(pred: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
});

function worker(cfg: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('close', () => children.delete(child));
  const lines: Line[] = [];
  let partial = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d) => {
    partial += String(d);
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Line);
    waiters.forEach((w) => w());
  });
  child.stderr!.on('data', (d) => (err += String(d)));
  return {
    child,
    lines,
    until: (pred, timeoutMs = 30_000) =>
      new Promise((res, rej) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit) {
            clearTimeout(t);
            res(hit);
          }
        };
        const t = setTimeout(() => rej(new Error(`worker: timed out; stderr:\n${err}`)), timeoutMs);
        waiters.push(check);
        child.on('close', () => setTimeout(() => rej(new Error(`worker exited; stderr:\n${err}`)), 50));
        check();
      }),
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-lock-race-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

/** Locks for s0…s(n-1) held by a holder whose last heartbeat was ten minutes ago (stale by its lease). */
async function staleLocks(n: number): Promise<void> {
  const past = new FileLockStore(dir, new FakeClock(Date.now() + TEN_MINUTES_AGO));
  for (let i = 0; i < n; i++) await past.acquire(`s${i}`, { who: 'ci', host: 'gone-runner', pid: 1, since: new Date().toISOString(), deploymentId: 'd1' }, { waitMs: 0 });
}

describe('file lock store: real processes racing (built code: npm run build first)', { timeout: 60_000 }, () => {
  const store = () => new FileLockStore(dir, systemClock);

  it('two concurrent take-overs of a stale lock: exactly one wins, every round, and holds it', async () => {
    await staleLocks(ROUNDS);
    const go = join(dir, 'go');
    const a = worker({ dir, mode: 'takeover', services: ROUNDS, go, label: 'rollback-a' });
    const b = worker({ dir, mode: 'takeover', services: ROUNDS, go, label: 'rollback-b' });
    await Promise.all([a.until((l) => !!l.ready), b.until((l) => !!l.ready)]);
    writeFileSync(go, '');
    await Promise.all([a.until((l) => !!l.done), b.until((l) => !!l.done)]);
    for (let i = 0; i < ROUNDS; i++) {
      const results = [a, b].map((w) => w.lines.find((l) => l.i === i && l.op === 'takeover')!);
      const winners = results.filter((r) => r.ok);
      expect(winners, `round ${i}: ${JSON.stringify(results)}`).toHaveLength(1);
      expect(results.find((r) => !r.ok)).toMatchObject({ code: 'lock-held' });
      expect((await store().inspect(`s${i}`))?.holder.token, `round ${i}`).toBe(winners[0].token);
    }
  });

  it('a heartbeat or release racing a take-over never overwrites or frees the new holder’s lock', async () => {
    const go = join(dir, 'go');
    // The holder's clock is ten minutes behind: to everyone else its lock is stale although it still beats.
    const holder = worker({ dir, mode: 'hold-beat-release', services: ROUNDS, go, label: 'deploy', clockOffsetMs: TEN_MINUTES_AGO });
    await holder.until((l) => !!l.ready);
    const taker = worker({ dir, mode: 'takeover', services: ROUNDS, go, label: 'rollback', pace: true });
    await taker.until((l) => !!l.ready);
    writeFileSync(go, '');
    await Promise.all([holder.until((l) => !!l.done), taker.until((l) => !!l.done)]);
    let takeovers = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const took = taker.lines.find((l) => l.i === i && l.op === 'takeover')!;
      const info = await store().inspect(`s${i}`);
      if (took.ok) {
        takeovers++;
        // Whatever the old holder did after, the lock is the taker's.
        expect(info?.holder.token, `round ${i}: ${JSON.stringify(holder.lines.filter((l) => l.i === i))}`).toBe(took.token);
      } else {
        // The take-over lost its compare-and-swap to a heartbeat: the old holder then released its own lock.
        expect(took.code).toBe('lock-held');
        expect(info, `round ${i}`).toBeNull();
      }
      // A heartbeat after the take-over reports the loss (exit 4), never success.
      const beats = holder.lines.filter((l) => l.i === i && l.op === 'heartbeat');
      const firstLost = beats.findIndex((b) => !b.ok);
      if (firstLost >= 0) {
        expect(beats[firstLost]).toMatchObject({ name: 'LockLostError', code: 'lock-lost' });
        expect(beats.slice(firstLost).every((b) => !b.ok), `round ${i}: a heartbeat succeeded after one failed`).toBe(true);
      }
    }
    expect(takeovers).toBeGreaterThan(0);
  });

  it('a holder killed with SIGKILL on this machine is stale at once; a live one is not', async () => {
    const w = worker({ dir, mode: 'hold-and-exit', services: 0, label: 'deploy' });
    const acquired = await w.until((l) => l.op === 'acquire');
    expect((await store().inspect('web'))?.stale).toBe(false);
    w.child.kill('SIGKILL');
    await new Promise((r) => w.child.once('close', r));
    const info = await store().inspect('web');
    expect(info?.stale).toBe(true);
    expect(info?.staleReason).toBe(`process ${acquired.pid} on ${info?.holder.host} is no longer running`);
  });
});
