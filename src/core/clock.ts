/** Time as the engine sees it. Tests inject a fake one so no test sleeps through a bake. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolve after `ms`, or reject with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * A clock that only moves when told: `advance(ms)` resolves every sleep that falls due, in order.
 * With `autoAdvance` the built binary runs in tests with it (test/cli/fast-clock.mjs): time advances instantly.
 */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: { at: number; resolve: () => void; seq: number }[] = [];
  private seq = 0;
  /** When true, every sleep resolves at once and moves time forward (a "fast-forward" clock). */
  constructor(start = Date.UTC(2026, 0, 1), private readonly autoAdvance = false) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.autoAdvance) {
      this.t += ms;
      // As the system clock's sleep: cut short by an abort that lands before it ends (here, within
      // the turn of the event loop it takes), so a loop over sleeps stops as it would in production.
      return new Promise((resolve, reject) => setImmediate(() => (signal?.aborted ? reject(signal.reason) : resolve())));
    }
    return new Promise((resolve, reject) => {
      const entry = { at: this.t + ms, resolve: () => resolve(), seq: this.seq++ };
      this.sleepers.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  /** Move time forward, waking sleepers in order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.t = next.at;
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.t = target;
    await new Promise((r) => setImmediate(r));
  }
  /** Number of pending sleeps (lets a test wait until the engine is parked in a bake). */
  get pending(): number {
    return this.sleepers.length;
  }
}
