import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import type { DeploymentRecord, RecordStore } from '../../src/core/state.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { RequestWatcher, carryOverRequests, requestOnRecord } from '../../src/engine/remote-requests.js';
import { FileStateStore } from '../../src/state/file-state-store.js';

let dir: string;
let clock: FakeClock;
let store: FileStateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-requests-'));
  clock = new FakeClock(Date.UTC(2026, 10, 25, 12));
  store = new FileStateStore(dir, clock);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const holder = { who: 'ci', host: 'runner-7', pid: 4242, since: '2026-11-25T12:00:00.000Z' };

function deploy(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  const plan = [
    { kind: 'shiftTraffic' as const, weights: { stable: 90, candidate: 10 } },
    { kind: 'pause' as const },
    { kind: 'shiftTraffic' as const, weights: { stable: 50, candidate: 50 } },
    { kind: 'pause' as const },
  ];
  return { ...newRecord({ id: 'd1', service: 'web', strategy: 'canary', stable: null, candidate: { id: 'v2' }, plan, by: holder, now: clock.now() }), ...over };
}

/** The records as another process sees them, with the deploying process checkpointing right after each read. */
function racing(records: RecordStore, newer: DeploymentRecord): RecordStore {
  return {
    latest: async (service) => {
      const seen = await records.latest(service);
      await records.save(newer);
      return seen;
    },
    save: (r) => records.save(r),
    history: (service, limit) => records.history(service, limit),
    request: (service, id, kind, request) => records.request(service, id, kind, request),
    requests: (service, id) => records.requests(service, id),
  };
}

/** The watcher's poll in these tests: short, so that a test waits on the watcher's reads, never on a clock. */
const POLL_MS = 5;

/**
 * The records as the watcher reads them, counting its reads: `reads(n)` resolves when the watcher
 * has started n more reads, so n - 1 more of its ticks have run to the end (the next one starts
 * only after the previous one ended). `watch: false` leaves the file store's watch out, so that
 * only the poll hears requests.
 */
function counted(records: RecordStore, { watch = true } = {}) {
  let started = 0;
  const waiters: { at: number; wake: () => void }[] = [];
  const view: RecordStore = {
    latest: (service) => {
      started++;
      for (const w of waiters.filter((x) => x.at <= started)) w.wake();
      return records.latest(service);
    },
    save: (r) => records.save(r),
    history: (service, limit) => records.history(service, limit),
    request: (service, id, kind, request) => records.request(service, id, kind, request),
    requests: (service, id) => records.requests(service, id),
    ...(watch && records.watchRequests ? { watchRequests: (service: string, on: () => void) => records.watchRequests!(service, on) } : {}),
  };
  return {
    records: view,
    get started() {
      return started;
    },
    reads: (n: number) => new Promise<void>((wake) => waiters.push({ at: started + n, wake })),
  };
}

/** What a listener heard: `reach(n)` resolves once it has been called n times in all. */
function heard() {
  let count = 0;
  const waiters: { n: number; wake: () => void }[] = [];
  return {
    fire: () => {
      count++;
      for (const w of waiters.filter((x) => x.n <= count)) w.wake();
    },
    get count() {
      return count;
    },
    reach: (n: number) => (count >= n ? Promise.resolve() : new Promise<void>((wake) => waiters.push({ n, wake }))),
  };
}

describe('requests from other processes (zdd abort / promote / flag kill)', () => {
  it('never put back an older checkpoint: the holder checkpoints after the requester read the record', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 1 }));
    const newer = deploy({ status: 'rolling-back', stepIndex: 1, rollback: { reason: 'gate failed', startedAt: '2026-11-25T12:00:01.000Z', plan: [], stepIndex: 3 } });
    expect(await requestOnRecord(racing(store.records, newer), 'web', 'd1', 'abort', clock)).toBe(true);
    const latest = await store.records.latest('web');
    expect(latest?.status).toBe('rolling-back');
    expect(latest?.rollback?.stepIndex).toBe(3);
    expect((await store.records.history('web', 10))[0]?.rollback?.stepIndex).toBe(3);
    expect(await store.records.requests('web', 'd1')).toEqual({ abort: { at: '2026-11-25T12:00:00.000Z' } });
  });

  it('a promote names the step the requester saw; nothing is asked of a deploy that is not the newest', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    expect(await requestOnRecord(store.records, 'web', 'd1', 'promote', clock)).toBe(true);
    expect(await store.records.requests('web', 'd1')).toEqual({ promote: { at: '2026-11-25T12:00:00.000Z', stepIndex: 1 } });
    expect(await requestOnRecord(store.records, 'web', 'other', 'abort', clock)).toBe(false);
    expect(await store.records.requests('web', 'other')).toEqual({});
  });

  it('the holder notes the requests in its own record at its next checkpoint; an older zdd\'s request in the record still counts', () => {
    const record = deploy({ status: 'paused', stepIndex: 1 });
    carryOverRequests(record, null, { abort: { at: 'a1' }, promote: { at: 'p1', stepIndex: 1 } });
    expect(record).toMatchObject({ abortRequested: 'a1', promoteRequested: 'p1' });

    const later = deploy({ status: 'paused', stepIndex: 3 });
    carryOverRequests(later, null, { promote: { at: 'p1', stepIndex: 1 } });
    expect(later.promoteRequested).toBeUndefined();

    const legacy = deploy({ status: 'paused', stepIndex: 3 });
    carryOverRequests(legacy, deploy({ abortRequested: 'old-a', promoteRequested: 'old-p' }), {});
    expect(legacy).toMatchObject({ abortRequested: 'old-a', promoteRequested: 'old-p' });
  });

  it('what the holder notes: never a promote while running, never over its own notes, never another deploy\'s', () => {
    const running = deploy({ status: 'running', stepIndex: 1 });
    carryOverRequests(running, null, { abort: { at: 'a1' }, promote: { at: 'p1', stepIndex: 1 } });
    expect(running).toMatchObject({ abortRequested: 'a1' });
    expect(running.promoteRequested).toBeUndefined();

    const noted = deploy({ status: 'paused', stepIndex: 1, abortRequested: 'first-a', promoteRequested: 'first-p' });
    carryOverRequests(noted, null, { abort: { at: 'a2' }, promote: { at: 'p2', stepIndex: 1 } });
    expect(noted).toMatchObject({ abortRequested: 'first-a', promoteRequested: 'first-p' });

    const other = deploy({ status: 'paused', stepIndex: 1 });
    carryOverRequests(other, deploy({ id: 'd0', abortRequested: 'old-a', promoteRequested: 'old-p' }), {});
    expect(other.abortRequested).toBeUndefined();
    expect(other.promoteRequested).toBeUndefined();

    // A promote from an older zdd names no step: it is meant for whichever pause is waiting.
    const anyStep = deploy({ status: 'paused', stepIndex: 3 });
    carryOverRequests(anyStep, null, { promote: { at: 'p-old' } });
    expect(anyStep.promoteRequested).toBe('p-old');
  });

  it('the watcher hears an abort from the request channel, at its poll', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await aborts.reach(1);
    } finally {
      watcher.stop();
    }
  });

  it('with the file store, a request wakes the watcher by itself, not at its next poll (here an hour away)', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web', undefined, 3_600_000);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      // a request from a process of its own, as `zdd rollback` writes it
      await new FileStateStore(dir, clock).records.request('web', 'd1', 'abort', { at: 'now' });
      await aborts.reach(1);
    } finally {
      watcher.stop();
    }
  });

  it('the watch through the masking wrapper the CLI puts around the store still wakes the watcher', async () => {
    const { withMaskedRecords } = await import('../../src/state/masked-records.js');
    const { SecretMask } = await import('../../src/core/secret-mask.js');
    const masked = withMaskedRecords(store, new SecretMask());
    await masked.records.save(deploy({ status: 'running', stepIndex: 0 }));
    const watcher = new RequestWatcher(masked.records, 'd1', 'web', undefined, 3_600_000);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await aborts.reach(1);
    } finally {
      watcher.stop();
    }
  });

  it('a stopped watcher stops its watch, and a late wake from the watch reads nothing', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    let wake: (() => void) | undefined;
    let closed = 0;
    const seen = counted(store.records, { watch: false });
    const records: RecordStore = {
      ...seen.records,
      watchRequests: async (_service, onRequest) => {
        wake = onRequest;
        return () => closed++;
      },
    };
    const watcher = new RequestWatcher(records, 'd1', 'web', undefined, 3_600_000);
    watcher.start();
    await new Promise((r) => setImmediate(r));
    watcher.stop();
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(1);
    wake!();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.started).toBe(0);
  });

  it('a promote wakes only the pause it was meant for, once (a stale one never skips a later pause)', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
    await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 3).then(woke.fire, () => undefined);
      await seen.reads(3);
      expect(woke.count).toBe(0);
      await store.records.request('web', 'd1', 'promote', { at: 'p2', stepIndex: 3 });
      await woke.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a promote from an older zdd, naming no step, wakes whichever pause waits', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 3).then(woke.fire, () => undefined);
      await store.records.request('web', 'd1', 'promote', { at: 'p-old' });
      await woke.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('two promotes made at the same instant (a fake clock) each wake their own pause', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      expect(await requestOnRecord(store.records, 'web', 'd1', 'promote', clock)).toBe(true);
      await woke.reach(1);
      await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
      void watcher.waitForPromote(stop.signal, 3).then(woke.fire, () => undefined);
      expect(await requestOnRecord(store.records, 'web', 'd1', 'promote', clock)).toBe(true);
      await woke.reach(2);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a promote written in the record by an older zdd still wakes the pause', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await store.records.save(deploy({ status: 'paused', stepIndex: 1, promoteRequested: 'legacy' }));
      await woke.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a channel promote the holder copied into its record is not taken again for the next pause', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
      await woke.reach(1);
      // The holder's checkpoint notes it, then the deploy goes on to its next pause.
      await store.records.save(deploy({ status: 'paused', stepIndex: 3, promoteRequested: 'p1' }));
      void watcher.waitForPromote(stop.signal, 3).then(woke.fire, () => undefined);
      await seen.reads(4);
      expect(woke.count).toBe(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });
});

describe('the request watcher: other writers, aborts and stopping', () => {
  const me = { pid: process.pid, host: holder.host };

  it('a record written by another process (another pid, another host, another deploy) is news for the lock holder; its own writes are not', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', me, POLL_MS);
    const foreign = heard();
    watcher.onForeignWrite(foreign.fire);
    watcher.start();
    try {
      await seen.reads(3);
      expect(foreign.count).toBe(0);
      await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid + 1 } }));
      await foreign.reach(1);
      await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid, host: 'other-host' } }));
      await foreign.reach(foreign.count + 1);
      await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
      await seen.reads(2);
      const settled = foreign.count;
      await seen.reads(3);
      expect(foreign.count).toBe(settled);
      await store.records.save(deploy({ id: 'd2', status: 'running', by: { ...holder, pid: process.pid } }));
      await foreign.reach(settled + 1);
    } finally {
      watcher.stop();
    }
  });

  it('a watcher that does not know its writer hears only another deploy\'s record as news', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid + 1 } }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    const foreign = heard();
    watcher.onForeignWrite(foreign.fire);
    watcher.start();
    try {
      await seen.reads(3);
      expect(foreign.count).toBe(0);
      await store.records.save(deploy({ id: 'd2', status: 'running' }));
      await foreign.reach(1);
    } finally {
      watcher.stop();
    }
  });

  it('an abort is heard once, whether from the channel or written in the record by an older zdd', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid }, abortRequested: 'then' }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await aborts.reach(1);
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await seen.reads(3);
      expect(aborts.count).toBe(1);
    } finally {
      watcher.stop();
    }
  });

  it('the abort listener learns who asked (the kill switch), from the request', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    const by: (string | undefined)[] = [];
    const aborts = heard();
    watcher.onAbort((who) => {
      by.push(who);
      aborts.fire();
    });
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'abort', { at: 'now', by: 'the kill switch (zdd flag kill "x")' });
      await aborts.reach(1);
      expect(by).toEqual(['the kill switch (zdd flag kill "x")']);
    } finally {
      watcher.stop();
    }
  });

  it('an abort of another deploy is not ours', async () => {
    await store.records.save(deploy({ id: 'd2', status: 'running', abortRequested: 'then' }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await seen.reads(3);
      expect(aborts.count).toBe(0);
    } finally {
      watcher.stop();
    }
  });

  it('a damaged request channel does not hide the record: an abort an older zdd wrote in it is still heard', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid }, abortRequested: 'then' }));
    const records: RecordStore = {
      ...counted(store.records, { watch: false }).records,
      requests: async () => {
        throw new Error('requests/d1.json: unexpected end of JSON');
      },
    };
    const watcher = new RequestWatcher(records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await aborts.reach(1);
    } finally {
      watcher.stop();
    }
  });

  it('a wait for promote ends when the run aborts, and a later promote wakes nobody twice', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(counted(store.records, { watch: false }).records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    try {
      const already = new AbortController();
      already.abort(new Error('gone'));
      await expect(watcher.waitForPromote(already.signal, 1)).rejects.toThrow('gone');
      const run = new AbortController();
      const waiting = watcher.waitForPromote(run.signal, 1);
      run.abort(new Error('SIGINT'));
      await expect(waiting).rejects.toThrow('SIGINT');
      // The aborted waiter is gone: a promote now is kept for the next wait at that step.
      const next = watcher.waitForPromote(new AbortController().signal, 1);
      await requestOnRecord(store.records, 'web', 'd1', 'promote', clock);
      await next;
    } finally {
      watcher.stop();
    }
  });

  it('a stopped watcher reads nothing more; an unreadable store is read again at the next tick', async () => {
    let failing = true;
    const seen = counted(store.records, { watch: false });
    const records: RecordStore = {
      ...seen.records,
      latest: async (service) => {
        const read = seen.records.latest(service);
        if (failing) throw new Error('EIO');
        return read;
      },
    };
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    await seen.reads(2);
    failing = false;
    await store.records.request('web', 'd1', 'abort', { at: 'now' });
    await aborts.reach(1);
    watcher.stop();
    const stoppedAt = seen.started;
    // Ten polls' time: a watcher still running would have read again.
    await new Promise((r) => setTimeout(r, 10 * POLL_MS));
    expect(seen.started).toBe(stoppedAt);
  });
  it('a promote that comes before the pause starts waiting is kept for that pause', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 1 }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'promote', { at: 'early', stepIndex: 1 });
      await seen.reads(3);
      await watcher.waitForPromote(new AbortController().signal, 1);
    } finally {
      watcher.stop();
    }
  });

  it('a promote already taken by a pause is not taken again by a later wait at that step', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
      await woke.reach(1);
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await seen.reads(4);
      expect(woke.count).toBe(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('two pauses waiting at once: each promote wakes its own, the other keeps waiting', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const first = heard();
      const second = heard();
      void watcher.waitForPromote(stop.signal, 1).then(first.fire, () => undefined);
      void watcher.waitForPromote(stop.signal, 3).then(second.fire, () => undefined);
      await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
      await first.reach(1);
      await seen.reads(3);
      expect(second.count).toBe(0);
      await store.records.request('web', 'd1', 'promote', { at: 'p3', stepIndex: 3 });
      await second.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('an older zdd\'s promote in the record wakes one pause: not the next one while it stays there, nor once it is gone; a new one does', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1, promoteRequested: 'legacy-1' }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await woke.reach(1);
      void watcher.waitForPromote(stop.signal, 3).then(woke.fire, () => undefined);
      await seen.reads(3);
      expect(woke.count).toBe(1);
      await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
      await seen.reads(3);
      expect(woke.count).toBe(1);
      await store.records.save(deploy({ status: 'paused', stepIndex: 3, promoteRequested: 'legacy-2' }));
      await woke.reach(2);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a wait given up (its run aborted) takes no promote from the waits that come after it, nor from the others', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const seen = counted(store.records, { watch: false });
    const watcher = new RequestWatcher(seen.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    const stop = new AbortController();
    try {
      const other = heard();
      void watcher.waitForPromote(stop.signal, 3).then(other.fire, () => undefined);
      const run = new AbortController();
      const given = watcher.waitForPromote(run.signal, 1);
      run.abort(new Error('SIGINT'));
      await expect(given).rejects.toThrow('SIGINT');
      await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
      await seen.reads(3);
      await watcher.waitForPromote(stop.signal, 1);
      await store.records.request('web', 'd1', 'promote', { at: 'p3', stepIndex: 3 });
      await other.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a record the store cannot find (a listing that lags) does not hide the channel\'s requests', async () => {
    const records: RecordStore = { ...counted(store.records, { watch: false }).records, latest: async () => null };
    const watcher = new RequestWatcher(records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    const stop = new AbortController();
    try {
      const woke = heard();
      void watcher.waitForPromote(stop.signal, 1).then(woke.fire, () => undefined);
      await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
      await woke.reach(1);
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await aborts.reach(1);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a store whose watch cannot start: the poll alone hears requests, and stopping is clean', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
    const records: RecordStore = {
      ...counted(store.records, { watch: false }).records,
      watchRequests: async () => {
        throw new Error('inotify: too many watches');
      },
    };
    const watcher = new RequestWatcher(records, 'd1', 'web', undefined, POLL_MS);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    await store.records.request('web', 'd1', 'abort', { at: 'now' });
    await aborts.reach(1);
    watcher.stop();
    // stop() closes the watch once it settles: a failed one has nothing to close, and must not throw.
    await new Promise((r) => setTimeout(r, 10));
  });
});

describe('the request watcher woken by the store\'s watch (its poll an hour away)', () => {
  /** A store whose watch the test fires by hand, and whose request reads the test can hold. */
  function watched() {
    let wake: () => void = () => undefined;
    let hold: Promise<void> | undefined;
    let inFlight = 0;
    let most = 0;
    let reads = 0;
    let done = 0;
    const records: RecordStore = {
      ...counted(store.records, { watch: false }).records,
      requests: async (service, id) => {
        reads++;
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          const read = await store.records.requests(service, id);
          if (hold) await hold;
          return read;
        } finally {
          inFlight--;
          done++;
        }
      },
      watchRequests: async (_service, onRequest) => {
        wake = onRequest;
        return () => undefined;
      },
    };
    return {
      records,
      wake: () => wake(),
      /** Hold the reads from now on until the returned function is called. */
      holdReads: () => {
        let release!: () => void;
        hold = new Promise<void>((r) => (release = r));
        return () => {
          hold = undefined;
          release();
        };
      },
      get reads() {
        return reads;
      },
      get most() {
        return most;
      },
      /** Resolves once n reads have ended, and the tick that made the last one has had time to end too. */
      ended: async (n: number) => {
        while (done < n) await new Promise((r) => setImmediate(r));
        await settle();
      },
    };
  }
  /** A moment for a watcher that would read again at once (a mutant's busy loop) to do so. */
  const settle = () => new Promise((r) => setTimeout(r, 20));

  it('a request written while the watcher reads is read again as soon as that read ends; never two reads at once', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const w = watched();
    const watcher = new RequestWatcher(w.records, 'd1', 'web', undefined, 3_600_000);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await new Promise((r) => setImmediate(r));
      const release = w.holdReads();
      w.wake();
      while (w.reads < 1) await new Promise((r) => setImmediate(r));
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      w.wake();
      await settle();
      expect(w.most).toBe(1);
      release();
      await aborts.reach(1);
      expect(w.reads).toBe(2);
      expect(w.most).toBe(1);
    } finally {
      watcher.stop();
    }
  });

  it('each wake is one read, then quiet until the next wake: no read in between', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const w = watched();
    const watcher = new RequestWatcher(w.records, 'd1', 'web', undefined, 3_600_000);
    const aborts = heard();
    watcher.onAbort(aborts.fire);
    watcher.start();
    try {
      await new Promise((r) => setImmediate(r));
      w.wake();
      await w.ended(1);
      expect(w.reads).toBe(1);
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      w.wake();
      await aborts.reach(1);
      await w.ended(2);
      expect(w.reads).toBe(2);
    } finally {
      watcher.stop();
    }
  });

  it('stopped during a read: that read is the last one', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const w = watched();
    const watcher = new RequestWatcher(w.records, 'd1', 'web', undefined, POLL_MS);
    watcher.start();
    await new Promise((r) => setImmediate(r));
    const release = w.holdReads();
    w.wake();
    while (w.reads < 1) await new Promise((r) => setImmediate(r));
    watcher.stop();
    release();
    await new Promise((r) => setTimeout(r, 10 * POLL_MS));
    expect(w.reads).toBe(1);
  });
});
