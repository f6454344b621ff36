import type { RecordStore } from '../core/state.js';

const POLL_MS = 500;

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

  constructor(private readonly records: RecordStore, private readonly deploymentId: string, private readonly service: string) {}

  start(): void {
    const tick = async () => {
      try {
        const r = await this.records.latest(this.service);
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
