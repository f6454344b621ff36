import { errorMessage } from '../core/errors.js';
import type { ZddEventWithTime } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import { deadlineSignal } from '../core/deadline.js';
import { slackBody, webhookBody } from './formats.js';
import { NotificationBuilder, type Notification, type NotificationContext } from './notification.js';
import { NOTIFY_ON, type NotifyTarget } from './schema.js';

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5_000;
/**
 * How long a command that has done its work waits for notifications still in flight before it
 * exits (and reports them as not delivered): a webhook that never answers must not hold an
 * incident's `zdd rollback` for its whole timeout.
 */
export const EXIT_GRACE_MS = 300;

/** Where a notifier's own problems go: a `warn` event while the command runs, stderr after its `done`. */
export interface NotifierWarnings {
  warn(message: string): void;
}

/**
 * Sends notifications for the events of a deploy, as a listener on the event bus: the engine
 * knows nothing of it. Every request is fired without being awaited (several at once, each
 * bounded by its timeout, and all by a short grace once the command is done), so a slow or
 * failing webhook never holds back a step, a rollback or the command's exit;
 * failures only warn, naming the target by its variable, never by its URL (a secret).
 */
export class Notifier {
  private readonly builder: NotificationBuilder;
  private readonly pending = new Set<Promise<void>>();
  /** Aborts every request in flight when the command's grace is over. */
  private readonly exiting = new AbortController();
  private warnedMissing = false;

  constructor(
    private readonly targets: NotifyTarget[],
    ctx: NotificationContext,
    private readonly warnings: NotifierWarnings,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.builder = new NotificationBuilder(ctx);
  }

  onEvent(e: ZddEventWithTime): void {
    const n = this.builder.next(e);
    if (!n) return;
    if (!this.warnedMissing) {
      this.warnedMissing = true;
      for (const [i, t] of this.targets.entries()) {
        if (!this.env[t.urlEnv]) this.warnings.warn(`${label(t, i)}: environment variable ${t.urlEnv} is not set; no ${t.type} notifications are sent`);
      }
    }
    for (const [i, t] of this.targets.entries()) {
      const url = this.env[t.urlEnv];
      if (!url || !(t.on ?? NOTIFY_ON).includes(n.event)) continue;
      const p = this.send(t, i, url, n).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /**
   * Called when the command's work is done: waits up to `graceMs` for requests in flight, then
   * gives up on the rest (each warns that it was not delivered) and returns.
   */
  async flush(graceMs = EXIT_GRACE_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    const allSettled = (async () => {
      while (this.pending.size) await Promise.all([...this.pending]);
    })();
    await Promise.race([allSettled, graceOver]);
    clearTimeout(timer);
    if (!this.pending.size) return;
    this.exiting.abort();
    await allSettled;
  }

  private async send(t: NotifyTarget, i: number, url: string, n: Notification): Promise<void> {
    const timeoutMs = t.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS;
    const body = t.type === 'slack' ? slackBody(n) : webhookBody(n);
    const deadline = deadlineSignal(timeoutMs, this.exiting.signal);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'zdd' },
        body: JSON.stringify(body),
        signal: deadline.signal,
      });
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) this.warnings.warn(`${label(t, i)}: the ${n.event} notification got HTTP ${res.status}; the deploy goes on`);
    } catch (e) {
      if (this.exiting.signal.aborted) {
        this.warnings.warn(`${label(t, i)}: the ${n.event} notification was not delivered (no answer by the time zdd's work was done; zdd exits without waiting out its ${formatDuration(timeoutMs)} timeout)`);
        return;
      }
      const why = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError') ? `no answer within ${formatDuration(timeoutMs)}` : describeFetchError(e);
      this.warnings.warn(`${label(t, i)}: the ${n.event} notification was not delivered (${why}); the deploy goes on`);
    } finally {
      deadline.clear();
    }
  }
}

/** `notify[1] (slack, $SLACK_WEBHOOK_URL)`: names the target without its URL. */
function label(t: NotifyTarget, i: number): string {
  return `notify[${i}] (${t.type}, $${t.urlEnv})`;
}

/** fetch says "fetch failed" and puts the reason in `cause`; the URL must not appear. */
function describeFetchError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (e instanceof TypeError && /invalid url|failed to parse url/i.test(String(cause?.message ?? e.message))) return 'the variable does not hold a valid URL';
  return errorMessage(e).replace(/https?:\/\/\S+/g, '<url>');
}
