import { LockHeldError, LockLostError, ZddError, type LockHolderInfo } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { LockInfo, LockLease } from '../core/state.js';
import { forgetToken, holderIsDead, type HolderProcess } from './lock-holder.js';

/** How long a lock lives without a heartbeat before it counts as stale. */
export const DEFAULT_LEASE_MS = 120_000;

/**
 * The lock as a holder writes it. `heartbeat` is the holder's own clock: whoever judges staleness
 * on another clock adds a margin for the two clocks' disagreement (see the stores).
 */
export interface StoredLock {
  holder: LockHolderInfo;
  heartbeat: string;
  leaseMs: number;
  token: string;
  /** The holder's pid scope, when it was taken by the process named in `holder`. */
  process?: HolderProcess;
}

/** True when `v` has the shape of a StoredLock. */
export function isStoredLock(v: unknown): v is StoredLock {
  const l = v as Partial<StoredLock> | null;
  return (
    // Stryker disable next-line ConditionalExpression: a value that is not an object has no string token, so the next line refuses it anyway
    typeof l === 'object' && l !== null &&
    typeof l.token === 'string' && typeof l.heartbeat === 'string' && typeof l.leaseMs === 'number' &&
    // Stryker disable next-line ConditionalExpression: a holder that is not an object has no string host
    typeof l.holder === 'object' && l.holder !== null && typeof l.holder.host === 'string' && typeof l.holder.pid === 'number'
  );
}

/**
 * What a reader makes of a stored lock: stale when its holder's process is known to be gone, or
 * when `ageMs` (measured by the store on one clock, or across clocks with a margin) exceeds the
 * lease plus `marginMs`.
 */
export function lockInfo(lock: StoredLock, ageMs: number, marginMs: number): LockInfo {
  let staleReason: string | undefined;
  if (holderIsDead(lock.holder, lock.process)) staleReason = `process ${lock.holder.pid} on ${lock.holder.host} is no longer running`;
  else if (ageMs > lock.leaseMs + marginMs) staleReason = `no heartbeat for ${Math.round(ageMs / 1000)}s (lease ${Math.round(lock.leaseMs / 1000)}s)`;
  return { holder: { ...lock.holder, token: lock.token }, heartbeat: lock.heartbeat, leaseMs: lock.leaseMs, stale: staleReason !== undefined, staleReason };
}

/**
 * Why a take-over of `lock` (as `info` judges it) for deploy `deploymentId` is refused, or undefined
 * when it may go ahead: a live lock is never taken over, whoever holds it ("who" would be a token,
 * never a pid), nor another deploy's stale one. The one rule every lock store applies.
 */
export function takeOverRefusal(service: string, info: LockInfo, lock: StoredLock, deploymentId: string): ZddError | undefined {
  if (!info.stale) return new LockHeldError(service, info.holder, false);
  if (lock.holder.deploymentId && lock.holder.deploymentId !== deploymentId) {
    return new ZddError('lock-other-deploy', `Service "${service}" is locked by another deploy (${lock.holder.deploymentId}), not ${deploymentId}`, {
      exitCode: ExitCode.LockHeld,
      hint: 'Run `zdd lock status` to see it.',
    });
  }
  return undefined;
}

/**
 * How far apart the holder's clock and the reader's may be, where staleness must compare them (a
 * state directory on a shared file system is read from several machines): a lock is stale only
 * `leaseMs` plus this after its last heartbeat as the holder wrote it.
 */
export const CLOCK_MARGIN_MS = 30_000;

/** Hint for a damaged lock file or object. */
export const CORRUPT_LOCK_HINT =
  'zdd never writes a lock half: something else changed it. If no deploy is running, remove it with `zdd lock release --force`, then run `zdd status`.';

/** A lock freed by someone other than its holder, as far as the store knows who. */
export interface FreedLock {
  free: true;
  at: string;
  /** `force`: `zdd lock release --force`; `fence`: a watchdog took it and acted (`dead-mans-switch`: the local router's, as written before `fence`). */
  by: string;
  /** `fence`: the watchdog's name. */
  fencedBy?: string;
  why?: string;
}

/** The two conditional writes a store offers a held lock (compare-and-swap on what it read). */
export interface LeaseWrites {
  /** Renew the heartbeat if the lock still carries our token: true when written, else the lock as it is now (null or FreedLock: free). */
  renew(): Promise<true | StoredLock | FreedLock | null>;
  /** Free the lock if it still carries our token; anyone else's lock is left as it is. */
  free(): Promise<void>;
}

/**
 * A lease over a store's conditional writes: heartbeats never overlap (calls while one runs share
 * it), a lost lock is a LockLostError naming the new holder, and release runs once.
 */
export function conditionalLease(service: string, token: string, writes: LeaseWrites): LockLease {
  let released = false;
  let beating: Promise<void> | null = null;
  const beat = async () => {
    const now = await writes.renew();
    if (now === true) return;
    if (now && 'free' in now) throw new LockLostError(service, freedReason(now), null);
    throw new LockLostError(service, now ? 'another process took it over' : 'it was released (zdd lock release --force?)', now ? { ...now.holder, token: now.token } : null);
  };
  return {
    token,
    heartbeat: () => (released ? Promise.resolve() : (beating ??= beat().finally(() => (beating = null)))),
    release: async () => {
      if (released) return;
      released = true;
      forgetToken(token);
      await writes.free();
    },
  };
}

function freedReason(f: FreedLock): string {
  if (f.by === 'fence') return `${f.fencedBy ?? 'a watchdog'} took it at ${f.at}${f.why ? ` and ${f.why}` : ''}`;
  if (f.by === 'dead-mans-switch') return `the local router's dead-man's switch took it at ${f.at} and put traffic back on stable${f.why ? ` (${f.why})` : ''}`;
  if (f.by === 'force') return `it was released with \`zdd lock release --force\` at ${f.at}`;
  return `it was released at ${f.at}`;
}
