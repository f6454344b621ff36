import type { ZddEventWithTime } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import { verdictLabel, type Reporter } from './reporter.js';

/** One timestamped line per event: no ANSI, no spinner frames. For CI logs and pipes. */
export class PlainReporter implements Reporter {
  private lastBakeLine = 0;
  /** Per check: last verdict printed and when; a passing check repeats in a log at most every 10 s. */
  private printed = new Map<string, { verdict: string; at: number }>();
  constructor(private readonly write: (line: string) => void, private readonly verbose = false) {}

  onEvent(e: ZddEventWithTime): void {
    if (e.type === 'check' && this.isRepeatedPass(e)) return;
    const line = this.format(e);
    if (line !== null) this.write(`${e.time} ${line}\n`);
  }

  /** A check that keeps passing is said once per 10 s in a log; every other verdict is said each time. */
  private isRepeatedPass(e: Extract<ZddEventWithTime, { type: 'check' }>): boolean {
    const key = `${e.result.gate ?? ''}/${e.result.check}`;
    const at = Date.parse(e.time);
    const verdict = e.result.error ? 'error' : e.result.verdict;
    const last = this.printed.get(key);
    if (verdict === 'pass' && last?.verdict === 'pass' && at - last.at < 10_000) return true;
    this.printed.set(key, { verdict, at });
    return false;
  }

  private format(e: ZddEventWithTime): string | null {
    switch (e.type) {
      case 'deploy.start':
        if (e.kind === 'restore') return `rolling back ${e.service}: ${e.stable?.id ?? '(nothing)'} → ${e.candidate.id} (${e.steps.length} steps, id ${e.deploymentId})${e.resumedAt !== undefined ? ` resumed at step ${e.resumedAt + 1}` : ''}`;
        return `deploy ${e.service}: ${e.stable?.id ?? '(nothing)'} -> ${e.candidate.id} with ${e.strategy} (${e.steps.length} steps, id ${e.deploymentId})${e.resumedAt !== undefined ? ` resumed at step ${e.resumedAt + 1}` : ''}`;
      case 'step.start':
        return `${e.phase === 'rollback' ? 'rollback ' : ''}step ${e.index + 1}/${e.total}: ${e.description}`;
      case 'step.done':
        return `${e.phase === 'rollback' ? 'rollback ' : ''}step ${e.index + 1}/${e.total} done (${formatDuration(e.durationMs)})`;
      case 'traffic':
        return `traffic verified: ${Object.entries(e.byRevision).map(([id, w]) => `${id} ${w}%`).join(' | ')}`;
      case 'bake.progress': {
        // One line per ~10s of bake is enough for a log.
        if (e.elapsedMs !== 0 && e.elapsedMs - this.lastBakeLine < 10_000) return null;
        this.lastBakeLine = e.elapsedMs;
        return `bake: ${formatDuration(e.remainingMs)} left`;
      }
      case 'paused':
        return `paused: ${e.message}`;
      case 'check':
        return `check ${e.result.check} (${e.result.type}${e.result.gate ? `, gate ${e.result.gate}` : ''}): ${verdictLabel(e.result)} ${e.result.message}`;
      case 'hook':
        if (e.status === 'start') return this.verbose ? `hook ${e.hook} started` : null;
        return `hook ${e.hook} ${e.status}${e.durationMs !== undefined ? ` (${formatDuration(e.durationMs)})` : ''}${e.message ? `: ${e.message}` : ''}`;
      case 'rollback.start':
        return `ROLLBACK: ${e.reason}`;
      case 'rollback.done':
        return e.ok ? `rollback done: ${e.message}` : `ROLLBACK FAILED: ${e.message}`;
      case 'info':
        return e.message;
      case 'warn':
        return `warning: ${e.message}`;
      case 'done':
        return `${e.result} (exit ${e.exitCode}): ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`;
    }
  }
}
