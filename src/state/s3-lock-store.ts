import type { Clock } from '../core/clock.js';
import { LockHeldError, type LockHolderInfo } from '../core/errors.js';
import type { LockFence, LockInfo, LockLease, LockStore } from '../core/state.js';
import type { JsonFileKind } from './atomic-file.js';
import { forgetToken, holderProcess, newLockToken } from './lock-holder.js';
import type { S3Objects, StoredObject } from './s3-objects.js';
import { CLOCK_MARGIN_MS, conditionalLease, CORRUPT_LOCK_HINT, isStoredLock, lockInfo, takeOverRefusal, type StoredLock } from './stored-lock.js';

/**
 * S3 stamps Last-Modified and Date from one clock, each to the whole second: a lock is stale when
 * S3's Date is later than the lock object's Last-Modified by more than its lease plus this.
 */
export const S3_CLOCK_MARGIN_MS = 2_000;

type LockObject = StoredLock;
const LOCK_KIND: JsonFileKind<LockObject> = { what: 'Lock object', hint: CORRUPT_LOCK_HINT, valid: isStoredLock };

/** The lock as `<prefix><service>/lock.json`, every write conditional on the ETag read (If-None-Match: * to create). */
export class S3LockStore implements LockStore {
  constructor(
    private readonly objects: S3Objects,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly leaseMs: number,
  ) {}

  private key(service: string): string {
    return `${this.prefix}${service}/lock.json`;
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const lock = this.newLock(holder);
      const etag = await this.objects.put(this.key(service), lock, { ifNoneMatch: true });
      if (etag !== null) return this.lease(service, lock.token);
      // A PUT the SDK sent again after its answer was lost fails its own If-None-Match: our token there means we hold the lock.
      const got = await this.objects.get(this.key(service), LOCK_KIND);
      if (got?.value.token === lock.token) return this.lease(service, lock.token);
      forgetToken(lock.token);
      const info = got ? this.info(got) : null;
      if (info && this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      if (!info) continue; // released between our attempt and the read
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const got = await this.objects.get(this.key(service), LOCK_KIND);
    return got ? this.info(got) : null;
  }

  /** Removes the lock whoever holds it, also when the object is damaged (it is not parsed). */
  async forceRelease(service: string): Promise<boolean> {
    const existed = (await this.objects.getRaw(this.key(service))) !== null;
    // Stryker disable next-line ConditionalExpression: deleting a missing object succeeds (S3 answers 204); the check only saves a call
    if (existed) await this.objects.delete(this.key(service));
    return existed;
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const got = await this.objects.get(this.key(service), LOCK_KIND);
    const lock = this.newLock({ ...holder, deploymentId });
    // A PUT the SDK sent again after its answer was lost fails its own condition (412): our token
    // on the lock means the take-over landed; anyone else's means we lost.
    const confirmOurs = async (fallback: LockHolderInfo): Promise<void> => {
      const now = await this.objects.get(this.key(service), LOCK_KIND);
      if (now?.value.token === lock.token) return;
      forgetToken(lock.token);
      const info = now ? this.info(now) : null;
      throw new LockHeldError(service, info?.holder ?? fallback, info?.stale ?? false, info?.staleReason);
    };
    if (!got) {
      const etag = await this.objects.put(this.key(service), lock, { ifNoneMatch: true });
      if (etag === null) await confirmOurs(holder);
      return this.lease(service, lock.token);
    }
    const refusal = takeOverRefusal(service, this.info(got), got.value, deploymentId);
    if (refusal) {
      forgetToken(lock.token);
      throw refusal;
    }
    // If-Match: if someone else took it over since we read it, we lose instead of both holding it.
    const etag = await this.objects.put(this.key(service), lock, { ifMatch: got.etag });
    if (etag === null) await confirmOurs(got.value.holder);
    forgetToken(got.value.token);
    return this.lease(service, lock.token);
  }

  /**
   * If-Match on the ETag read: a holder that renewed first (a new ETag) keeps its lock. `free`
   * deletes the lock If-Match the fence's own version, so one taken over meanwhile stays; the old
   * holder then learns only that its lock was released.
   */
  async fence(service: string, deploymentId: string, holder: LockHolderInfo): Promise<LockFence | null> {
    const key = this.key(service);
    const got = await this.objects.get(key, LOCK_KIND);
    if (!got || !this.info(got).stale || got.value.holder.deploymentId !== deploymentId) return null;
    const lock = this.newLock({ ...holder, deploymentId });
    if ((await this.objects.put(key, lock, { ifMatch: got.etag })) === null) {
      forgetToken(lock.token);
      return null;
    }
    forgetToken(got.value.token);
    return {
      free: async () => {
        forgetToken(lock.token);
        const now = await this.objects.get(key, LOCK_KIND);
        if (now?.value.token === lock.token) await this.objects.delete(key, { ifMatch: now.etag });
      },
    };
  }

  private newLock(holder: LockHolderInfo): LockObject {
    const token = newLockToken();
    return { holder: { ...holder, token }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token, process: holderProcess(holder) };
  }

  /** Staleness on S3's own clock (Date − Last-Modified), never the holder's against ours. */
  private info(got: StoredObject<LockObject>): LockInfo {
    if (got.lastModified !== undefined && got.serverDate !== undefined) {
      return lockInfo(got.value, got.serverDate - got.lastModified, S3_CLOCK_MARGIN_MS);
    }
    // No Date header (a proxy stripped it): the heartbeat as the holder wrote it, with the clock margin.
    return lockInfo(got.value, this.clock.now() - Date.parse(got.value.heartbeat), CLOCK_MARGIN_MS);
  }

  private lease(service: string, token: string): LockLease {
    const key = this.key(service);
    return conditionalLease(service, token, {
      renew: async () => {
        const got = await this.objects.get(key, LOCK_KIND);
        if (got?.value.token !== token) return got?.value ?? null;
        // If-Match: a take-over between our read and this write wins; the heartbeat fails.
        const next = await this.objects.put(key, { ...got.value, heartbeat: new Date(this.clock.now()).toISOString() }, { ifMatch: got.etag });
        // Stryker disable next-line ConditionalExpression: without it a write that landed is read back below (our token: the same true, one GET later); a take-over in between is what the next heartbeat reports anyway
        if (next !== null) return true;
        // A PUT the SDK sent again after its answer was lost fails its own If-Match: our token still there means our heartbeat landed.
        const now = (await this.objects.get(key, LOCK_KIND))?.value ?? null;
        return now?.token === token ? true : now;
      },
      free: async () => {
        const got = await this.objects.get(key, LOCK_KIND);
        // If-Match: a lock taken over between our read and the delete stays with its new holder.
        if (got && got.value.token === token) await this.objects.delete(key, { ifMatch: got.etag });
      },
    });
  }
}
