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

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
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

  it('the watcher hears an abort from the request channel', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    let aborted = false;
    watcher.onAbort(() => (aborted = true));
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await until(() => aborted);
    } finally {
      watcher.stop();
    }
  });

  it('with the file store, a request wakes the watcher by itself, not at its next poll (here an hour away)', async () => {
    await store.records.save(deploy({ status: 'running', stepIndex: 0, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web', undefined, 3_600_000);
    let aborted = false;
    watcher.onAbort(() => (aborted = true));
    watcher.start();
    try {
      // a request from a process of its own, as `zdd rollback` writes it
      await new FileStateStore(dir, clock).records.request('web', 'd1', 'abort', { at: 'now' });
      await until(() => aborted, 10_000);
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
    let aborted = false;
    watcher.onAbort(() => (aborted = true));
    watcher.start();
    try {
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await until(() => aborted, 10_000);
    } finally {
      watcher.stop();
    }
  });

  it('a promote wakes only the pause it was meant for, once (a stale one never skips a later pause)', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
    await store.records.request('web', 'd1', 'promote', { at: 'p1', stepIndex: 1 });
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    watcher.start();
    const stop = new AbortController();
    try {
      let woke = false;
      void watcher.waitForPromote(stop.signal, 3).then(() => (woke = true), () => undefined);
      await new Promise((r) => setTimeout(r, 1200));
      expect(woke).toBe(false);
      await store.records.request('web', 'd1', 'promote', { at: 'p2', stepIndex: 3 });
      await until(() => woke);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('two promotes made at the same instant (a fake clock) each wake their own pause', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    watcher.start();
    const stop = new AbortController();
    try {
      let woke = 0;
      void watcher.waitForPromote(stop.signal, 1).then(() => woke++, () => undefined);
      expect(await requestOnRecord(store.records, 'web', 'd1', 'promote', clock)).toBe(true);
      await until(() => woke === 1);
      await store.records.save(deploy({ status: 'paused', stepIndex: 3 }));
      void watcher.waitForPromote(stop.signal, 3).then(() => woke++, () => undefined);
      expect(await requestOnRecord(store.records, 'web', 'd1', 'promote', clock)).toBe(true);
      await until(() => woke === 2);
    } finally {
      stop.abort(new Error('test over'));
      watcher.stop();
    }
  });

  it('a promote written in the record by an older zdd still wakes the pause', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1 }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    watcher.start();
    const stop = new AbortController();
    try {
      let woke = false;
      void watcher.waitForPromote(stop.signal, 1).then(() => (woke = true), () => undefined);
      await store.records.save(deploy({ status: 'paused', stepIndex: 1, promoteRequested: 'legacy' }));
      await until(() => woke);
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
    const watcher = new RequestWatcher(store.records, 'd1', 'web', me);
    let foreign = 0;
    watcher.onForeignWrite(() => foreign++);
    watcher.start();
    try {
      await new Promise((r) => setTimeout(r, 700));
      expect(foreign).toBe(0);
      await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid + 1 } }));
      await until(() => foreign > 0);
      await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid, host: 'other-host' } }));
      const seen = foreign;
      await until(() => foreign > seen);
      await store.records.save(deploy({ id: 'd2', status: 'running', by: { ...holder, pid: process.pid } }));
      const again = foreign;
      await until(() => foreign > again);
    } finally {
      watcher.stop();
    }
  });

  it('an abort is heard once, whether from the channel or written in the record by an older zdd', async () => {
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid }, abortRequested: 'then' }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    let aborts = 0;
    watcher.onAbort(() => aborts++);
    watcher.start();
    try {
      await until(() => aborts > 0);
      await store.records.request('web', 'd1', 'abort', { at: 'now' });
      await new Promise((r) => setTimeout(r, 1200));
      expect(aborts).toBe(1);
    } finally {
      watcher.stop();
    }
  });

  it('an abort of another deploy is not ours', async () => {
    await store.records.save(deploy({ id: 'd2', status: 'running', abortRequested: 'then' }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
    let aborts = 0;
    watcher.onAbort(() => aborts++);
    watcher.start();
    try {
      await new Promise((r) => setTimeout(r, 1200));
      expect(aborts).toBe(0);
    } finally {
      watcher.stop();
    }
  });

  it('a wait for promote ends when the run aborts, and a later promote wakes nobody twice', async () => {
    await store.records.save(deploy({ status: 'paused', stepIndex: 1, by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(store.records, 'd1', 'web');
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
    let reads = 0;
    let failing = true;
    const records: RecordStore = {
      ...store.records,
      latest: async (service) => {
        reads++;
        if (failing) throw new Error('EIO');
        return store.records.latest(service);
      },
      requests: (service, id) => store.records.requests(service, id),
    };
    await store.records.save(deploy({ status: 'running', by: { ...holder, pid: process.pid } }));
    const watcher = new RequestWatcher(records, 'd1', 'web');
    let aborted = false;
    watcher.onAbort(() => (aborted = true));
    watcher.start();
    await until(() => reads >= 2);
    failing = false;
    await store.records.request('web', 'd1', 'abort', { at: 'now' });
    await until(() => aborted);
    watcher.stop();
    const stoppedAt = reads;
    await new Promise((r) => setTimeout(r, 1200));
    expect(reads).toBe(stoppedAt);
  });
});
