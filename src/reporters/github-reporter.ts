import { appendFileSync } from 'node:fs';
import type { CheckResult } from '../core/checks.js';
import { ExitCode } from '../core/exit-codes.js';
import type { ZddEventWithTime } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import { verdictLabel, type Reporter } from './reporter.js';

/**
 * Joins by itself when GITHUB_ACTIONS=true: `::error::` annotations for failures and a Markdown
 * summary of steps and check verdicts appended to $GITHUB_STEP_SUMMARY.
 */
export class GithubReporter implements Reporter {
  private steps: { phase: string; n: string; description: string; duration?: string }[] = [];
  /** Per check (gate/name): its latest result and how many results it gave, by verdict. */
  private checks = new Map<string, { latest: CheckResult; count: number; byVerdict: Map<string, number> }>();
  private header = '';

  constructor(private readonly write: (line: string) => void, private readonly summaryPath: string | undefined) {}

  onEvent(e: ZddEventWithTime): void {
    switch (e.type) {
      case 'deploy.start':
        this.header = `### zdd: ${e.kind === 'restore' ? 'rolling back ' : ''}${e.service} ${e.stable?.id ?? '(nothing)'} → ${e.candidate.id} (${e.strategy})`;
        break;
      case 'step.start':
        this.steps.push({ phase: e.phase, n: `${e.index + 1}/${e.total}`, description: e.description });
        break;
      case 'step.done': {
        const s = this.steps[this.steps.length - 1];
        if (s) s.duration = formatDuration(e.durationMs);
        break;
      }
      case 'check': {
        const key = `${e.result.gate ?? ''}/${e.result.check}`;
        const c = this.checks.get(key) ?? { latest: e.result, count: 0, byVerdict: new Map<string, number>() };
        const v = verdictLabel(e.result).toLowerCase();
        c.latest = e.result;
        c.count++;
        c.byVerdict.set(v, (c.byVerdict.get(v) ?? 0) + 1);
        this.checks.set(key, c);
        break;
      }
      case 'rollback.start':
        this.write(`::error title=zdd rollback::${escape(e.reason)}\n`);
        break;
      case 'done':
        // A stop at a manual pause (exit 6) is on purpose and the action's step succeeds: a notice, not an error.
        if (e.exitCode === ExitCode.Paused) this.write(`::notice title=zdd ${e.result}::${escape(e.message)}\n`);
        else if (e.exitCode !== 0) this.write(`::error title=zdd ${e.result}::${escape(e.message)}\n`);
        this.writeSummary(e);
        break;
      default:
        break;
    }
  }

  private writeSummary(done: Extract<ZddEventWithTime, { type: 'done' }>): void {
    if (!this.summaryPath) return;
    const icon = done.exitCode === 0 ? '✅' : done.exitCode === ExitCode.Paused ? '⏸️' : done.exitCode === 1 || done.exitCode === 130 ? '↩️' : '❌';
    const lines = [this.header || '### zdd', '', `${icon} **${done.result}** (exit ${done.exitCode}): ${done.message.replace(/\n/g, ' ')}`, ''];
    if (this.steps.length) {
      lines.push('| phase | step | what | took |', '| --- | --- | --- | --- |');
      for (const s of this.steps) lines.push(`| ${s.phase} | ${s.n} | ${cell(s.description)} | ${s.duration ?? '—'} |`);
      lines.push('');
    }
    if (this.checks.size) {
      // One row per check: a long bake gives hundreds of results, the summary wants where each ended.
      lines.push('| check | gate | latest verdict | observed | threshold | results |', '| --- | --- | --- | --- | --- | --- |');
      for (const { latest: c, count, byVerdict } of this.checks.values()) {
        const observed = c.observed ? Object.entries(c.observed).map(([k, v]) => `${k}=${v}`).join(', ') : c.message;
        const tally = byVerdict.size > 1 ? ` (${[...byVerdict].map(([v, n]) => `${n} ${v}`).join(', ')})` : '';
        lines.push(`| ${cell(c.check)} | ${cell(c.gate ?? '')} | ${verdictLabel(c)} | ${cell(observed)} | ${cell(c.threshold ?? '')} | ${count}${tally} |`);
      }
      lines.push('');
    }
    try {
      appendFileSync(this.summaryPath, `${lines.join('\n')}\n`);
    } catch {
      // a summary is a courtesy; never fail a deploy over it
    }
  }
}

function escape(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
