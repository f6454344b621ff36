import type { CheckResult } from '../core/checks.js';
import type { ZddEventWithTime } from '../core/events.js';
import type { NotifyOn } from './schema.js';

/** What a webhook receives (the generic JSON body); Slack gets the same facts as text. */
export interface Notification {
  event: NotifyOn;
  time: string;
  service: string;
  env?: string;
  deploymentId: string;
  strategy: string;
  revision: string;
  stable: string | null;
  /** The step in flight when it happened. */
  step?: { index: number; total: number; description: string; phase: 'deploy' | 'rollback' };
  /** `done` result, or the deploy's state for start/pause/rollback. */
  result: string;
  exitCode?: number;
  message: string;
  reason?: string;
  /** The check that failed (rollback), with what it saw. */
  check?: { name: string; gate?: string; type: string; verdict: string; observed?: CheckResult['observed']; threshold?: string; message: string };
  /** What to run next (a manual pause: exactly these commands). */
  commands?: { promote: string; abort: string };
  who: string;
  host: string;
  ciRunUrl?: string;
}

export interface NotificationContext {
  service: string;
  env?: string;
  who: string;
  host: string;
  ciRunUrl?: string;
  /** `zdd promote` with the --config/--env this run was given, for the pause message. */
  promoteCommand: string;
  abortCommand: string;
}

/**
 * Follows the events of one command and says when something is worth a notification. Only a
 * process that runs a deploy (it saw `deploy.start`) notifies: `zdd status` or an `abort` that
 * only asks the running deploy to stop say nothing.
 */
export class NotificationBuilder {
  private deploy: Extract<ZddEventWithTime, { type: 'deploy.start' }> | null = null;
  private step: Notification['step'];
  private lastBadCheck: CheckResult | undefined;
  private rolledBack = false;

  constructor(private readonly ctx: NotificationContext) {}

  next(e: ZddEventWithTime): Notification | null {
    if (e.type === 'deploy.start') {
      this.deploy = e;
      return this.make(e.time, 'start', 'running', e.resumedAt !== undefined ? `Continuing ${e.strategy} deploy of ${e.candidate.id} at step ${e.resumedAt + 1}` : `Deploying ${e.candidate.id} with ${e.strategy} (stable ${e.stable?.id ?? 'none'})`);
    }
    if (!this.deploy) return null;
    switch (e.type) {
      case 'step.start':
        this.step = { index: e.index, total: e.total, description: e.description, phase: e.phase };
        return null;
      case 'check':
        if (e.result.verdict !== 'pass') this.lastBadCheck = e.result;
        return null;
      case 'paused': {
        const n = this.make(e.time, 'pause', 'paused', `Paused for a person: run \`${this.ctx.promoteCommand}\` to go on or \`${this.ctx.abortCommand}\` to roll back`);
        n.commands = { promote: this.ctx.promoteCommand, abort: this.ctx.abortCommand };
        return n;
      }
      case 'rollback.start': {
        this.rolledBack = true;
        const n = this.make(e.time, 'rollback', 'rolling-back', `Rolling back ${this.deploy.candidate.id}: ${e.reason}`);
        n.reason = e.reason;
        const c = this.lastBadCheck;
        if (c && e.reason.includes(c.check)) n.check = { name: c.check, ...(c.gate ? { gate: c.gate } : {}), type: c.type, verdict: c.error ? 'error' : c.verdict, ...(c.observed ? { observed: c.observed } : {}), ...(c.threshold ? { threshold: c.threshold } : {}), message: c.message };
        return n;
      }
      case 'done': {
        const kind: NotifyOn | null = e.exitCode === 4 ? 'needs-person' : e.exitCode === 0 && e.result === 'succeeded' ? 'success' : this.rolledBack || e.exitCode === 1 || e.exitCode === 130 ? 'rolled-back' : null;
        if (!kind) return null;
        const n = this.make(e.time, kind, e.result, e.message);
        n.exitCode = e.exitCode;
        if (e.hint) n.reason = e.hint;
        return n;
      }
      default:
        return null;
    }
  }

  private make(time: string, event: NotifyOn, result: string, message: string): Notification {
    const d = this.deploy!;
    return {
      event,
      time,
      service: this.ctx.service,
      ...(this.ctx.env ? { env: this.ctx.env } : {}),
      deploymentId: d.deploymentId,
      strategy: d.strategy,
      revision: d.candidate.id,
      stable: d.stable?.id ?? null,
      ...(this.step ? { step: { ...this.step } } : {}),
      result,
      message,
      who: this.ctx.who,
      host: this.ctx.host,
      ...(this.ctx.ciRunUrl ? { ciRunUrl: this.ctx.ciRunUrl } : {}),
    };
  }
}
