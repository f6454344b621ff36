import type { Clock } from '../core/clock.js';
import { LockHeldError, type LockHolderInfo } from '../core/errors.js';
import { lockWatchdog, type DeploymentRecord, type DeploymentRequest, type DeploymentRequests, type LockFence, type LockInfo, type LockLease, type LockStore, type RecordStore, type RequestKind, type StateStore } from '../core/state.js';
import { forgetToken, holderProcess, newLockToken } from './lock-holder.js';
import { requestOf } from './record-shape.js';
import { conditionalLease, DEFAULT_LEASE_MS, lockInfo, takeOverRefusal, type FreedLock, type StoredLock } from './stored-lock.js';

/**
 * Records and lock in this process's memory: the state store of the engine's unit tests (no file
 * written, no fsync per checkpoint) and of a library user who drives the engine in-process. It keeps
 * the other stores' promises within one process: records and requests are copied in and out (a
 * caller that changes an object after saving it does not change the record), and the lock is a
 * compare-and-swap on a generation like theirs. Nothing survives the process, so no command-line
 * config can choose it.
 */
export class MemoryStateStore implements StateStore {
  readonly records: MemoryRecordStore;
  readonly lock: MemoryLockStore;
  readonly location = 'memory';
  constructor(clock: Clock, leaseMs = DEFAULT_LEASE_MS) {
    this.records = new MemoryRecordStore();
    this.lock = new MemoryLockStore(clock, leaseMs);
  }
}

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class MemoryRecordStore implements RecordStore {
  private readonly byService = new Map<string, Map<string, DeploymentRecord>>();
  private readonly newest = new Map<string, DeploymentRecord>();
  private readonly asked = new Map<string, DeploymentRequests>();
  private readonly watchers = new Map<string, Set<() => void>>();

  async latest(service: string): Promise<DeploymentRecord | null> {
    const r = this.newest.get(service);
    return r ? copy(r) : null;
  }

  async save(record: DeploymentRecord): Promise<void> {
    const stored = copy(record);
    const records = this.byService.get(record.service) ?? new Map<string, DeploymentRecord>();
    records.set(stored.id, stored);
    this.byService.set(record.service, records);
    this.newest.set(record.service, stored);
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    return [...(this.byService.get(service)?.values() ?? [])]
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id))
      .slice(0, limit)
      .map(copy);
  }

  async request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void> {
    const key = `${service}/${deploymentId}`;
    this.asked.set(key, { ...this.asked.get(key), [kind]: requestOf(request) });
    for (const w of this.watchers.get(service) ?? []) queueMicrotask(w);
  }

  async requests(service: string, deploymentId: string): Promise<DeploymentRequests> {
    return copy(this.asked.get(`${service}/${deploymentId}`) ?? {});
  }

  /** Called after every request of the service, as the file store's watch is. */
  async watchRequests(service: string, onRequest: () => void): Promise<() => void> {
    const set = this.watchers.get(service) ?? new Set<() => void>();
    this.watchers.set(service, set);
    const w = () => onRequest();
    set.add(w);
    return () => set.delete(w);
  }
}

interface Slot {
  gen: number;
  lock: StoredLock | null;
  freed?: FreedLock;
}

export class MemoryLockStore implements LockStore {
  private readonly slots = new Map<string, Slot>();
  constructor(private readonly clock: Clock, private readonly leaseMs = DEFAULT_LEASE_MS) {}

  private slot(service: string): Slot {
    return this.slots.get(service) ?? { gen: 0, lock: null };
  }

  /** The one write: only when nobody wrote since generation `gen` was read. */
  private writeNext(service: string, gen: number, lock: StoredLock | null, freed?: FreedLock): boolean {
    if (this.slot(service).gen !== gen) return false;
    this.slots.set(service, { gen: gen + 1, lock: lock && copy(lock), ...(freed ? { freed } : {}) });
    return true;
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const cur = this.slot(service);
      if (!cur.lock) {
        const lock = this.newLock(holder);
        if (this.writeNext(service, cur.gen, lock)) return this.lease(service, lock.token);
        forgetToken(lock.token);
        continue;
      }
      const info = this.info(cur.lock);
      if (this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const cur = this.slot(service);
    return cur.lock ? this.info(cur.lock) : null;
  }

  async forceRelease(service: string): Promise<boolean> {
    const cur = this.slot(service);
    if (!cur.lock) return false;
    return this.writeNext(service, cur.gen, null, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'force' });
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const cur = this.slot(service);
    if (cur.lock) {
      const refusal = takeOverRefusal(service, this.info(cur.lock), cur.lock, deploymentId);
      if (refusal) throw refusal;
    }
    const lock = this.newLock({ ...holder, deploymentId });
    if (!this.writeNext(service, cur.gen, lock)) {
      forgetToken(lock.token);
      const now = this.slot(service).lock;
      throw new LockHeldError(service, now ? this.info(now).holder : holder, now ? this.info(now).stale : false);
    }
    if (cur.lock) forgetToken(cur.lock.token);
    return this.lease(service, lock.token);
  }

  /** Conditional on the generation read, as the other stores' fences are; `free(did)` names the watchdog to the old holder. */
  async fence(service: string, deploymentId: string, holder: LockHolderInfo): Promise<LockFence | null> {
    const cur = this.slot(service);
    if (!cur.lock || !this.info(cur.lock).stale || cur.lock.holder.deploymentId !== deploymentId) return null;
    const lock = this.newLock({ ...holder, deploymentId });
    if (!this.writeNext(service, cur.gen, lock)) {
      forgetToken(lock.token);
      return null;
    }
    forgetToken(cur.lock.token);
    const fencedBy = lockWatchdog(holder)?.name ?? `${holder.who}@${holder.host} (pid ${holder.pid})`;
    return {
      free: async (did: string) => {
        forgetToken(lock.token);
        const now = this.slot(service);
        if (now.lock?.token === lock.token) this.writeNext(service, now.gen, null, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'fence', fencedBy, why: did });
      },
    };
  }

  private newLock(holder: LockHolderInfo): StoredLock {
    const token = newLockToken();
    return { holder: { ...holder, token }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token, process: holderProcess(holder) };
  }

  /** One clock, one process: no margin for clocks that disagree. */
  private info(lock: StoredLock): LockInfo {
    return lockInfo(lock, this.clock.now() - Date.parse(lock.heartbeat), 0);
  }

  private lease(service: string, token: string): LockLease {
    return conditionalLease(service, token, {
      renew: async () => {
        const cur = this.slot(service);
        if (cur.lock?.token !== token) return cur.lock ? copy(cur.lock) : cur.freed && cur.freed.by !== 'holder' ? cur.freed : null;
        this.writeNext(service, cur.gen, { ...cur.lock, heartbeat: new Date(this.clock.now()).toISOString() });
        return true;
      },
      free: async () => {
        const cur = this.slot(service);
        if (cur.lock?.token === token) this.writeNext(service, cur.gen, null, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'holder' });
      },
    });
  }
}
