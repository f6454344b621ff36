import { errorMessage } from '../core/errors.js';
import type { ZddEventWithTime } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import { slackBody, webhookBody } from './formats.js';
import { NotificationBuilder, type Notification, type NotificationContext } from './notification.js';
import { NOTIFY_ON, type NotifyTarget } from './schema.js';

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5_000;

/** Where a notifier's own problems go: a `warn` event while the command runs, stderr after its `done`. */
export interface NotifierWarnings {
  warn(message: string): void;
}

/**
 * Sends notifications for the events of a deploy, as a listener on the event bus: the engine
 * knows nothing of it. Every request is fired without being awaited (several at once, each
 * bounded by its timeout), so a slow or failing webhook never holds back a step or a rollback;
 * failures only warn, naming the target by its variable, never by its URL (a secret).
 */
export class Notifier {
  private readonly builder: NotificationBuilder;
  private readonly pending = new Set<Promise<void>>();
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

  /** Wait for requests in flight (each ends by its own timeout). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private async send(t: NotifyTarget, i: number, url: string, n: Notification): Promise<void> {
    const timeoutMs = t.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS;
    const body = t.type === 'slack' ? slackBody(n) : webhookBody(n);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'zdd' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) this.warnings.warn(`${label(t, i)}: the ${n.event} notification got HTTP ${res.status}; the deploy goes on`);
    } catch (e) {
      const why = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError') ? `no answer within ${formatDuration(timeoutMs)}` : describeFetchError(e);
      this.warnings.warn(`${label(t, i)}: the ${n.event} notification was not delivered (${why}); the deploy goes on`);
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
