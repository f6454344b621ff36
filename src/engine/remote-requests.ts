import type { Clock } from '../core/clock.js';
import type { DeploymentRecord, RecordStore } from '../core/state.js';

const POLL_MS = 500;

/** What another process may ask of a running deploy, through its record. */
export type RemoteRequest = 'abortRequested' | 'promoteRequested';

/** Ask the deploy `id` (the service's newest record) to abort or go on; false when it is not the newest. */
export async function requestOnRecord(records: RecordStore, service: string, id: string, field: RemoteRequest, clock: Clock): Promise<boolean> {
  const r = await records.latest(service);
  if (!r || r.id !== id) return false;
  r[field] = new Date(clock.now()).toISOString();
  await records.save(r);
  return true;
}

/** Before a checkpoint overwrites the record: keep the requests another process wrote since. */
export function carryOverRequests(record: DeploymentRecord, onDisk: DeploymentRecord | null): void {
  if (onDisk?.id !== record.id) return;
  if (onDisk.abortRequested && !record.abortRequested) record.abortRequested = onDisk.abortRequested;
  if (onDisk.promoteRequested && !record.promoteRequested && record.status === 'paused') record.promoteRequested = onDisk.promoteRequested;
}

/**
 * Watches the deployment record for requests from other processes (`zdd promote`, `zdd abort`,
 * `zdd rollback`), which may run on another machine when the state is remote. Polls in real
 * time: these are human actions, and a fake test clock must not turn this into a busy loop.
 */
export class RequestWatcher {
  private timer: NodeJS.Timeout | null = null;
  private abortListeners: (() => void)[] = [];
  private promoteWaiters: (() => void)[] = [];
  private seenPromote: string | undefined;
  private aborted = false;
  private foreignListeners: (() => void)[] = [];

  /** `writer`: who this process writes records as; a record by anyone else means another process acts. */
  constructor(
    private readonly records: RecordStore,
    private readonly deploymentId: string,
    private readonly service: string,
    private readonly writer?: { pid: number; host: string },
  ) {}

  /** Called at each poll that finds the record written by another process. */
  onForeignWrite(listener: () => void): void {
    this.foreignListeners.push(listener);
  }

  start(): void {
    const tick = async () => {
      try {
        const r = await this.records.latest(this.service);
        if (r && (r.id !== this.deploymentId || (this.writer && (r.by.pid !== this.writer.pid || r.by.host !== this.writer.host)))) {
          // Another process wrote the record (a take-over, or a new deploy after --force): is the lock still ours?
          for (const l of this.foreignListeners) l();
        }
        if (r?.id === this.deploymentId) {
          if (r.abortRequested && !this.aborted) {
            this.aborted = true;
            for (const l of this.abortListeners) l();
          }
          if (r.promoteRequested && r.promoteRequested !== this.seenPromote) {
            this.seenPromote = r.promoteRequested;
            const waiters = this.promoteWaiters;
            this.promoteWaiters = [];
            for (const w of waiters) w();
          }
        }
      } catch {
        // a failed read is retried at the next tick
      }
      // Not unref(): while a deploy waits at a pause for `zdd promote`, this poll is what keeps it alive.
      if (this.timer) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  onAbort(listener: () => void): void {
    this.abortListeners.push(listener);
  }

  /** Resolves at the next promote request; rejects when `signal` aborts. */
  waitForPromote(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const waiter = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.promoteWaiters = this.promoteWaiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      this.promoteWaiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
