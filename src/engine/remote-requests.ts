import type { Clock } from '../core/clock.js';
import type { DeploymentRecord, DeploymentRequest, DeploymentRequests, RecordStore, RequestKind } from '../core/state.js';

const POLL_MS = 500;

/**
 * Ask the deploy `id` (the service's newest record), run by another process, to abort or go on;
 * false when it is not the newest. The request goes to the store's request channel: only the lock
 * holder writes the record (promise 11), so a read-modify-write here could put back an older
 * checkpoint over one the holder wrote in between (promise 3).
 */
export async function requestOnRecord(records: RecordStore, service: string, id: string, kind: RequestKind, clock: Clock): Promise<boolean> {
  const r = await records.latest(service);
  if (!r || r.id !== id) return false;
  const at = new Date(clock.now()).toISOString();
  // A promote is for the pause (or bake) the requester saw, never for a later one.
  await records.request(service, id, kind, kind === 'promote' ? { at, stepIndex: r.stepIndex } : { at });
  return true;
}

/** A promote request meant for the step at `stepIndex` (one without a step, from an older zdd, is meant for any). */
function promoteFor(p: DeploymentRequest | undefined, stepIndex: number): boolean {
  return !!p && (p.stepIndex === undefined || p.stepIndex === stepIndex);
}

/**
 * Before a checkpoint: note in the holder's own record the requests other processes made (the
 * request channel, or an older zdd's write into the record), so that status and history show them.
 */
export function carryOverRequests(record: DeploymentRecord, onDisk: DeploymentRecord | null, requests: DeploymentRequests = {}): void {
  const legacy = onDisk?.id === record.id ? onDisk : null;
  const abort = requests.abort?.at ?? legacy?.abortRequested;
  if (abort && !record.abortRequested) record.abortRequested = abort;
  if (record.status !== 'paused' || record.promoteRequested) return;
  // Stryker disable next-line OptionalChaining: promoteFor() is true only for a promote that is there
  const promote = promoteFor(requests.promote, record.stepIndex) ? requests.promote?.at : legacy?.promoteRequested;
  // Stryker disable next-line ConditionalExpression: setting it to undefined leaves the record as it was (the same JSON)
  if (promote) record.promoteRequested = promote;
}

/**
 * Watches the request channel (and the record, where an older zdd wrote them) for requests from
 * other processes (`zdd promote`, `zdd abort`, `zdd rollback`, `zdd flag kill`), which may run on another machine when the state is remote. Polls in real
 * time: these are human actions, and a fake test clock must not turn this into a busy loop. Where
 * the store can tell when a request is written (the file store), that wakes it at once: an
 * incident's `zdd rollback` need not wait for the next poll.
 */
export class RequestWatcher {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** The store said a request came while a read was under way: read again when it ends. */
  private again = false;
  private unwatch: Promise<(() => void) | undefined> | null = null;
  private abortListeners: ((by?: string) => void)[] = [];
  private promoteWaiters: { stepIndex: number; wake: () => void }[] = [];
  /** Promote requests of the request channel already acted on, and every one seen (the holder copies them into its record). */
  private consumedPromote: string | undefined;
  private readonly channelPromotes = new Set<string>();
  /** The last promote an older zdd wrote into the record itself. */
  private seenLegacyPromote: string | undefined;
  private aborted = false;
  private foreignListeners: (() => void)[] = [];

  /** `writer`: who this process writes records as; a record by anyone else means another process acts. */
  constructor(
    private readonly records: RecordStore,
    private readonly deploymentId: string,
    private readonly service: string,
    private readonly writer?: { pid: number; host: string },
    private readonly pollMs = POLL_MS,
  ) {}

  /** Called at each poll that finds the record written by another process. */
  onForeignWrite(listener: () => void): void {
    this.foreignListeners.push(listener);
  }

  start(): void {
    const tick = async () => {
      this.running = true;
      try {
        const r = await this.records.latest(this.service);
        // A damaged or unreadable request is no reason to miss the record's news: read again at the next tick.
        const requests = await this.records.requests(this.service, this.deploymentId).catch((): DeploymentRequests => ({}));
        if (r && (r.id !== this.deploymentId || (this.writer && (r.by.pid !== this.writer.pid || r.by.host !== this.writer.host)))) {
          // Another process wrote the record (a take-over, or a new deploy after --force): is the lock still ours?
          for (const l of this.foreignListeners) l();
        }
        // A record that carries a request (written by an older zdd) still counts.
        const own = r?.id === this.deploymentId ? r : null;
        if ((requests.abort || own?.abortRequested) && !this.aborted) {
          this.aborted = true;
          for (const l of this.abortListeners) l(requests.abort?.by);
        }
        const promote = requests.promote;
        if (promote) this.channelPromotes.add(promote.at);
        // Keyed by time and step: two promotes may carry the same time (a fake clock, one millisecond).
        // Stryker disable next-line StringLiteral: the key is only compared with another key made the same way
        const key = promote && `${promote.at}@${promote.stepIndex ?? ''}`;
        if (promote && key !== this.consumedPromote) {
          const due = this.promoteWaiters.filter((w) => promoteFor(promote, w.stepIndex));
          if (due.length) {
            this.consumedPromote = key;
            // Stryker disable next-line MethodExpression: a woken waiter left in the list is only woken again, which does nothing (its promise is settled)
            this.promoteWaiters = this.promoteWaiters.filter((w) => !due.includes(w));
            for (const w of due) w.wake();
          }
        }
        // Stryker disable next-line OptionalChaining: without a record of this deploy the throw only ends the tick here, after everything it does
        const legacy = own?.promoteRequested;
        if (legacy && legacy !== this.seenLegacyPromote && !this.channelPromotes.has(legacy)) {
          this.seenLegacyPromote = legacy;
          const waiters = this.promoteWaiters;
          this.promoteWaiters = [];
          for (const w of waiters) w.wake();
        }
      } catch {
        // a failed read is retried at the next tick
      }
      this.running = false;
      if (!this.timer) return;
      // Not unref(): while a deploy waits at a pause for `zdd promote`, this poll is what keeps it alive.
      const wokenMeanwhile = this.again;
      this.again = false;
      this.timer = setTimeout(tick, wokenMeanwhile ? 0 : this.pollMs);
    };
    this.timer = setTimeout(tick, this.pollMs);
    const wake = () => {
      if (!this.timer) return;
      if (this.running) {
        this.again = true;
        return;
      }
      clearTimeout(this.timer);
      this.timer = setTimeout(tick, 0);
    };
    // No watch (another store, or the watch failed): the poll alone hears requests.
    this.unwatch = this.records.watchRequests
      ? this.records.watchRequests(this.service, wake).catch(() => undefined)
      : null;
  }

  stop(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(null) does nothing
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.unwatch?.then((close) => close?.());
    this.unwatch = null;
  }

  /** `by`: who asked, as the request says (e.g. `zdd flag kill`); undefined for `zdd abort`. */
  onAbort(listener: (by?: string) => void): void {
    this.abortListeners.push(listener);
  }

  /** Resolves at a promote request for the step at `stepIndex` (the pause or bake waiting); rejects when `signal` aborts. */
  waitForPromote(signal: AbortSignal, stepIndex: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const waiter = {
        stepIndex,
        wake: () => {
          // Stryker disable next-line StringLiteral: a listener left on a settled wait only filters a list it is no longer in and rejects a settled promise
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.promoteWaiters = this.promoteWaiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      this.promoteWaiters.push(waiter);
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once; once only frees the listener sooner
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
