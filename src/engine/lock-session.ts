import type { Clock } from '../core/clock.js';
import { LockHeldError, LockLostError, ZddError, errorMessage, type LockHolderInfo } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import { lockWatchdog, type LockLease, type LockStore } from '../core/state.js';

/** How often the lease is renewed while a command holds it. */
export const HEARTBEAT_MS = 15_000;
/** How long a take-over waits for a provider's watchdog to free the lock it holds for a moment (LockStore.fence). */
const SWITCH_WAIT_MS = 5_000;
/** Used when the store does not say how long its leases last. */
const DEFAULT_LEASE_MS = 120_000;

export interface LockSessionDeps {
  service: string;
  lock: LockStore;
  clock: Clock;
  events: EventSink;
  holder: LockHolderInfo;
  /** Real-time interval of the background heartbeat (tests shorten it). */
  heartbeatMs?: number;
}

/**
 * The service lock held by this command: acquire or take over, heartbeat, release — and the one
 * question every mutation asks first, `assertHeld()`. A lease whose token no longer matches (taken
 * over, force-released) or that expired while heartbeats failed is lost: `assertHeld()` throws
 * LockLostError and `signal` aborts, so a bake or a wait stops at once. Heartbeats never overlap:
 * the background loop and `assertHeld()` share one in-flight heartbeat.
 */
export class LockSession {
  private lease: LockLease | null = null;
  private leaseMs = DEFAULT_LEASE_MS;
  /** When the store last confirmed the lease is ours (injected clock). */
  private confirmedAt = 0;
  private beating: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lost: LockLostError | null = null;
  private readonly lostController = new AbortController();
  /** Heartbeats started (tests check they never overlap). */
  heartbeats = 0;

  constructor(private readonly deps: LockSessionDeps) {}

  /** Aborted with a LockLostError when the lock is lost. */
  get signal(): AbortSignal {
    return this.lostController.signal;
  }

  get held(): boolean {
    return this.lease !== null && this.lost === null;
  }

  /** Take the free lock (waiting up to `waitMs`, cancelled by `cancel`) or throw LockHeldError (exit 3). */
  async acquire(deploymentId: string, waitMs: number, cancel?: AbortSignal): Promise<void> {
    const { deps } = this;
    if (waitMs > 0) {
      const info = await deps.lock.inspect(deps.service);
      if (info && !info.stale) deps.events.emit({ type: 'info', message: `Waiting up to ${formatDuration(waitMs)} for the lock held by ${info.holder.who}@${info.holder.host} (pid ${info.holder.pid})` });
    }
    const acquiring = deps.lock.acquire(deps.service, { ...deps.holder, deploymentId }, { waitMs, pollMs: 500 });
    this.started(await raceSignal(acquiring, cancel, (lease) => void lease.release().catch(() => undefined)));
  }

  /**
   * Take over the lock of `deploymentId` whose holder is gone (resuming or rolling back a crashed
   * deploy); a free lock is simply acquired. A live holder of another deploy is LockHeldError.
   */
  async takeOver(deploymentId: string): Promise<void> {
    const { deps } = this;
    // A provider's watchdog (the local router's dead-man's switch) holds a dead deploy's lock for a
    // moment while it acts, then frees it: wait for that (in real time, like the heartbeat) rather
    // than refuse. It can also fence between our look and our take-over: then look again, within the same wait.
    const waitUntil = Date.now() + SWITCH_WAIT_MS;
    for (;;) {
      let info = await deps.lock.inspect(deps.service);
      // Stryker disable next-line EqualityOperator: one poll more or less in a five-second wait
      while (info && !info.stale && lockWatchdog(info.holder) && Date.now() < waitUntil) {
        await new Promise((r) => setTimeout(r, 100));
        info = await deps.lock.inspect(deps.service);
      }
      try {
        if (info && !info.stale && info.holder.deploymentId !== deploymentId) throw new LockHeldError(deps.service, info.holder, false);
        if (!info) {
          this.started(await deps.lock.acquire(deps.service, { ...deps.holder, deploymentId }, { waitMs: 0 }));
        } else if (deps.lock.takeOver) {
          deps.events.emit({ type: 'warn', message: `Taking over the lock of deploy ${deploymentId} from ${info.holder.who}@${info.holder.host} (pid ${info.holder.pid}): ${info.staleReason ?? 'holder gone'}` });
          this.started(await deps.lock.takeOver(deps.service, deps.holder, deploymentId));
        } else {
          throw new LockHeldError(deps.service, info.holder, info.stale, info.staleReason);
        }
        return;
      } catch (e) {
        const watchdogCameFirst = e instanceof LockHeldError && !e.stale && lockWatchdog(e.holder) !== undefined;
        if (watchdogCameFirst && Date.now() < waitUntil) continue;
        throw e;
      }
    }
  }

  /**
   * Before every provider write and checkpoint: a heartbeat (the store checks the token and renews
   * the lease), then LockLostError if the lock is no longer ours. A check that could be 15s old
   * would not stop the next write of a process whose lock was taken over.
   */
  async assertHeld(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: the same check after the heartbeat (which does nothing once lost) throws it
    if (this.lost) throw this.lost;
    if (!this.lease) throw new ZddError('lock-missing', `This command acts on "${this.deps.service}" without holding its lock (a zdd bug)`);
    await this.heartbeat();
    if (this.lost) throw this.lost;
  }

  /** Provider writes made under this lock: a provider error after one is no longer "nothing changed". */
  providerWrites = 0;

  /** Before a provider write: assertHeld, and count it. */
  async beforeProviderWrite(): Promise<void> {
    await this.assertHeld();
    this.providerWrites++;
  }

  /** Check now (another process wrote the record): marks the lock lost, and aborts `signal`, if it is. */
  async check(): Promise<void> {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: beat() itself does nothing without a lease or once lost
    if (this.lease && !this.lost) await this.heartbeat();
  }

  /** Release the lease if still ours. A failure only warns: the work is done, and the lease expires. */
  async release(): Promise<{ ok: boolean; error?: string }> {
    // Stryker disable next-line ConditionalExpression: clearTimeout(null) is harmless, and a timer left running finds no lease and stops
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lease = this.lease;
    this.lease = null;
    await this.beating?.catch(() => undefined);
    if (!lease || this.lost) return { ok: true };
    try {
      await lease.release();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: errorMessage(e) };
    }
  }

  private get heartbeatMs(): number {
    return this.deps.heartbeatMs ?? HEARTBEAT_MS;
  }

  private started(lease: LockLease): void {
    this.lease = lease;
    this.confirmedAt = this.deps.clock.now();
    void this.deps.lock
      .inspect(this.deps.service)
      .then((info) => {
        if (info?.leaseMs) this.leaseMs = info.leaseMs;
      })
      .catch(() => undefined);
    this.schedule();
  }

  /**
   * The background loop waits in real time, like RequestWatcher: a fast test clock must not turn
   * it into a busy loop. The lease's age is judged on the injected clock.
   */
  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.heartbeat().finally(() => {
        // Stryker disable next-line ConditionalExpression,LogicalOperator: a timer scheduled after release or loss finds no lease (or the loss) in beat() and writes nothing
        if (this.lease && !this.lost) this.schedule();
      });
    }, this.heartbeatMs);
    this.timer.unref();
  }

  private heartbeat(): Promise<void> {
    this.beating ??= this.beat().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  private async beat(): Promise<void> {
    const lease = this.lease;
    // Stryker disable next-line ConditionalExpression,LogicalOperator: unreachable: every caller checks the lease and the loss first, and markLost stops the timer
    if (!lease || this.lost) return;
    // Stryker disable next-line UpdateOperator: a counter nothing in zdd reads
    this.heartbeats++;
    try {
      await lease.heartbeat();
      this.confirmedAt = this.deps.clock.now();
    } catch (e) {
      if (e instanceof LockLostError) return this.markLost(e.holder, e.reason);
      const age = this.deps.clock.now() - this.confirmedAt;
      if (age >= this.leaseMs) {
        return this.markLost(null, `heartbeats failed for ${formatDuration(age)}, longer than the lease (${formatDuration(this.leaseMs)}): ${errorMessage(e)}`);
      }
      this.deps.events.emit({ type: 'warn', message: `Lock heartbeat failed (lease still valid for ${formatDuration(this.leaseMs - age)}): ${errorMessage(e)}` });
    }
  }

  private async markLost(holder: LockHolderInfo | null, reason: string): Promise<void> {
    // Stryker disable next-line ArrowFunction: undefined and null both mean "no holder to name"
    const now = holder ?? (await this.deps.lock.inspect(this.deps.service).catch(() => null))?.holder ?? null;
    this.lost = new LockLostError(this.deps.service, reason, now);
    // Stryker disable next-line ConditionalExpression: clearTimeout(null) is harmless
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lostController.abort(this.lost);
  }
}

/** `p`, unless `signal` aborts first (then `p`'s late result is handed to `late`). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined, late: (value: T) => void): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    void p.then(late, () => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        // Stryker disable next-line StringLiteral: the listener is registered once; removing it only tidies up
        signal.removeEventListener('abort', onAbort);
        if (settled) late(v);
        else resolve(v);
      },
      (e) => {
        // Stryker disable next-line StringLiteral: the listener is registered once; removing it only tidies up
        signal.removeEventListener('abort', onAbort);
        // Stryker disable next-line ConditionalExpression: a second reject of a settled promise is ignored
        if (!settled) reject(e);
      },
    );
  });
}
