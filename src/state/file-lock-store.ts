import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { LockHeldError, ZddError, type LockHolderInfo } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { lockWatchdog, type LockFence, type LockInfo, type LockLease, type LockStore } from '../core/state.js';
import { readJsonFile } from './atomic-file.js';
import { GenerationFiles, type Generation } from './generation-files.js';
import { forgetToken, holderProcess, newLockToken } from './lock-holder.js';
import { CLOCK_MARGIN_MS, conditionalLease, CORRUPT_LOCK_HINT, DEFAULT_LEASE_MS, isStoredLock, lockInfo, takeOverRefusal, type FreedLock, type StoredLock } from './stored-lock.js';

/** A generation that says the lock is free: released by its holder, by force, or by a watchdog after its fence (`dead-mans-switch`: as routers before `fence` wrote it). */
interface FreeLock extends FreedLock {
  by: 'holder' | 'force' | 'fence' | 'dead-mans-switch';
}
type LockFile = StoredLock | FreeLock;

const isFree = (v: LockFile): v is FreeLock => (v as FreeLock).free === true;
const isLockFile = (v: unknown): v is LockFile => isStoredLock(v) || (typeof v === 'object' && v !== null && (v as FreeLock).free === true);

/**
 * The lock as generation files under `<dir>/<service>/lock/`: every acquire, heartbeat, take-over
 * and release writes the next generation with a link()-based compare-and-swap on the generation it
 * read, so it never overwrites a change it did not see (see GenerationFiles).
 */
export class FileLockStore implements LockStore {
  constructor(private readonly dir: string, private readonly clock: Clock, private readonly leaseMs = DEFAULT_LEASE_MS) {}

  private files(service: string): GenerationFiles<LockFile> {
    return new GenerationFiles<LockFile>(join(this.dir, service, 'lock'), { what: 'Lock file', hint: CORRUPT_LOCK_HINT, valid: isLockFile });
  }

  /** `<service>/lock.json`, the lock as zdd 0.1 wrote it: honoured until the first generation exists. */
  private legacyPath(service: string): string {
    return join(this.dir, service, 'lock.json');
  }

  /** The current lock when held (free or never taken: null; `freed` says how it was freed). */
  private async held(service: string): Promise<Generation<StoredLock> | { gen: number; value: StoredLock | null; freed?: FreeLock }> {
    const cur = await this.files(service).current();
    if (cur) return isFree(cur.value) ? { gen: cur.gen, value: null, freed: cur.value } : (cur as Generation<StoredLock>);
    return { gen: 0, value: await readJsonFile(this.legacyPath(service), { what: 'Lock file', hint: CORRUPT_LOCK_HINT, valid: isStoredLock }) };
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const cur = await this.held(service);
      if (!cur.value) {
        const lock = this.newLock(holder);
        if (await this.files(service).writeNext(cur.gen, lock)) return this.lease(service, lock.token);
        forgetToken(lock.token);
        continue; // someone else wrote first: look again
      }
      const info = this.info(cur.value);
      if (this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const cur = await this.held(service);
    return cur.value ? this.info(cur.value) : null;
  }

  /** Frees the lock whoever holds it, also when its file is damaged (it is not parsed, only superseded). */
  async forceRelease(service: string): Promise<boolean> {
    const files = this.files(service);
    for (let attempt = 0; attempt < 20; attempt++) {
      const file = await files.currentFile();
      if (!file) return rm(this.legacyPath(service)).then(() => true, () => false);
      const cur = await files.current().catch(() => null);
      if (cur && cur.gen === file.gen && isFree(cur.value)) return false;
      if (await files.writeNext(file.gen, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'force' })) return true;
    }
    throw new ZddError('lock-busy', `The lock of service "${service}" changed 20 times while it was being released`, {
      exitCode: ExitCode.LockHeld,
      hint: 'Another zdd is working on it: run `zdd lock status`.',
    });
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const cur = await this.held(service);
    if (cur.value) {
      const refusal = takeOverRefusal(service, this.info(cur.value), cur.value, deploymentId);
      if (refusal) throw refusal;
    }
    const lock = this.newLock({ ...holder, deploymentId });
    // Conditional on the generation read: of two concurrent take-overs exactly one wins.
    if (await this.files(service).writeNext(cur.gen, lock)) {
      if (cur.value) forgetToken(cur.value.token);
      if (cur.gen === 0) await rm(this.legacyPath(service), { force: true });
      return this.lease(service, lock.token);
    }
    forgetToken(lock.token);
    const now = await this.held(service);
    const info = now.value ? this.info(now.value) : null;
    throw new LockHeldError(service, info?.holder ?? cur.value?.holder ?? holder, info?.stale ?? false, info?.staleReason);
  }

  /**
   * Conditional on the generation read. `free(did)` writes a free generation naming the watchdog
   * and what it did: the old holder's next heartbeat fails with that reason.
   */
  async fence(service: string, deploymentId: string, holder: LockHolderInfo): Promise<LockFence | null> {
    const cur = await this.held(service);
    if (!cur.value || !this.info(cur.value).stale || cur.value.holder.deploymentId !== deploymentId) return null;
    const lock = this.newLock({ ...holder, deploymentId });
    if (!(await this.files(service).writeNext(cur.gen, lock))) {
      forgetToken(lock.token);
      return null;
    }
    forgetToken(cur.value.token);
    const files = this.files(service);
    const fencedBy = lockWatchdog(holder)?.name ?? `${holder.who}@${holder.host} (pid ${holder.pid})`;
    return {
      free: async (did: string) => {
        forgetToken(lock.token);
        for (let attempt = 0; attempt < 20; attempt++) {
          const now = await this.held(service);
          if (now.value?.token !== lock.token) return;
          if (await files.writeNext(now.gen, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'fence', fencedBy, why: did })) return;
        }
      },
    };
  }

  private newLock(holder: LockHolderInfo): StoredLock {
    const token = newLockToken();
    return { holder: { ...holder, token }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token, process: holderProcess(holder) };
  }

  private info(lock: StoredLock): LockInfo {
    return lockInfo(lock, this.clock.now() - Date.parse(lock.heartbeat), CLOCK_MARGIN_MS);
  }

  private lease(service: string, token: string): LockLease {
    const files = this.files(service);
    return conditionalLease(service, token, {
      renew: async () => {
        const cur = await this.held(service);
        if (cur.value?.token !== token) return cur.value ?? ('freed' in cur && cur.freed && cur.freed.by !== 'holder' ? cur.freed : null);
        if (await files.writeNext(cur.gen, { ...cur.value, heartbeat: new Date(this.clock.now()).toISOString() })) return true;
        // Someone wrote between our read and our write.
        return (await this.held(service)).value;
      },
      free: async () => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const cur = await this.held(service);
          // Only ever our own lock: one taken over or freed meanwhile stays as it is.
          if (cur.value?.token !== token) return;
          if (await files.writeNext(cur.gen, { free: true, at: new Date(this.clock.now()).toISOString(), by: 'holder' })) return;
        }
      },
    });
  }
}
