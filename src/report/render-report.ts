import { formatDuration } from '../core/plan.js';
import type { DeployReport, ReportCheck, ReportStep } from './deploy-report.js';

/** Markdown for a pull request or an incident review. */
export function renderReportMarkdown(r: DeployReport): string {
  const out: string[] = [];
  out.push(`## zdd report: ${r.service} ${r.stable ?? '(nothing)'} → ${r.candidate} (${r.strategy}): ${r.result.toUpperCase()}`, '');
  out.push(`- deploy \`${r.id}\`${r.env ? ` (env ${r.env})` : ''} by ${r.who} on ${r.host}${r.ciRunUrl ? `, CI run ${r.ciRunUrl}` : ''}`);
  if (r.image) out.push(`- image \`${r.image}\``);
  out.push(`- started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt} (took ${formatDuration(r.durationMs ?? 0)})` : ', not finished'}`);
  if (r.deadMansSwitch) {
    const d = r.deadMansSwitch;
    out.push(`- **the deploy's process died** (last heard at ${d.lastHeard}): ${oneLine(d.reason)}`);
    out.push(`- **dead-man's switch** at ${d.at}: the local router put 100% back on ${d.restored} (was ${Object.entries(d.weightsBefore).map(([id, w]) => `${id} ${w}%`).join(' / ')})`);
  }
  if (r.rollback) {
    const how = r.rollback.ok === undefined ? '' : r.rollback.ok ? ` — rollback done: ${r.rollback.message}` : ` — ROLLBACK FAILED: ${r.rollback.message}`;
    out.push(`- **rollback** at ${r.rollback.startedAt}: ${oneLine(r.rollback.reason)}${oneLine(how)}`);
  }
  for (const f of r.forced ?? []) out.push(`- **started with --force** despite: ${oneLine(f)}`);
  if (r.error) out.push(`- error: ${oneLine(r.error.message)}${r.error.hint ? ` (hint: ${oneLine(r.error.hint)})` : ''}`);
  out.push('');
  if (r.planOnly) out.push('_This record has no timeline (written by a zdd without reports): the plan and how far it got._', '');
  out.push('| phase | step | started | took | weights | checks | hooks |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of r.steps) {
    const n = s.index < 0 ? '—' : `${s.index + 1}/${s.total}`;
    const took = s.durationMs !== undefined ? formatDuration(s.durationMs) : '—';
    const state = s.promoted ? ` ✓ ${promotedBy(s.promoted)}` : s.done ? '' : s.startedAt ? ' ✗' : r.planOnly ? ' (not run)' : '';
    out.push(`| ${s.phase} | ${n} ${cell(s.description)}${state} | ${s.startedAt ? time(s.startedAt) : '—'} | ${took} | ${weights(s)} | ${checkSummary(s.checks)} | ${s.hooks.map((h) => `${h.hook} ${h.status === 'ok' ? '✓' : '✗'}${h.exitCode !== undefined ? ` (exit ${h.exitCode})` : ''}`).join(', ')} |`);
  }
  out.push('');
  const detailed = r.steps.filter((s) => s.checks.length || s.hooks.some((h) => h.status === 'failed') || s.paused);
  if (detailed.length) {
    out.push('### Checks and hooks', '');
    for (const s of detailed) {
      out.push(`**${s.phase === 'rollback' ? 'rollback ' : ''}${s.index < 0 ? s.description : `step ${s.index + 1}: ${s.description}`}**`, '');
      if (s.paused) out.push(`paused: ${oneLine(s.paused)}`, '');
      if (s.promoted) out.push(`${promotedBy(s.promoted)}`, '');
      if (s.checks.length) {
        out.push('| at | check | gate | verdict | observed | threshold | times |', '| --- | --- | --- | --- | --- | --- | --- |');
        for (const c of s.checks) out.push(`| ${time(c.at)} | ${cell(c.check)} (${c.type}) | ${cell(c.gate ?? '')} | ${verdict(c)} | ${cell(observed(c))} | ${cell(c.threshold ?? '')} | ${c.count > 1 ? `${c.count}× until ${time(c.lastAt)}` : '1'} |`);
        out.push('');
      }
      for (const h of s.hooks.filter((x) => x.status === 'failed')) out.push(`- hook ${h.hook} failed${h.exitCode !== undefined ? ` (exit ${h.exitCode})` : ''}: ${oneLine(h.message ?? '')}`);
      if (s.hooks.some((x) => x.status === 'failed')) out.push('');
    }
  }
  if (r.warnings.length) out.push('### Warnings', '', ...r.warnings.map((w) => `- ${oneLine(w)}`), '');
  if (r.timelineOmitted) out.push(`_${r.timelineOmitted} repeated passing check results were left out to keep the record small._`, '');
  return `${out.join('\n')}\n`;
}

function promotedBy(p: NonNullable<ReportStep['promoted']>): string {
  return `promoted${p.by ? ` by ${p.by}` : ''} at ${p.at}`;
}

function weights(s: ReportStep): string {
  if (!s.byRevision) return '';
  return Object.entries(s.byRevision).map(([id, w]) => `${id} ${w}%`).join(' / ');
}

/** `analysis: 12 pass, 1 FAIL` — the step's verdicts at a glance. */
function checkSummary(checks: ReportCheck[]): string {
  const counts = new Map<string, number>();
  for (const c of checks) counts.set(verdict(c), (counts.get(verdict(c)) ?? 0) + c.count);
  return [...counts].map(([v, n]) => `${n} ${v}`).join(', ');
}

function verdict(c: ReportCheck): string {
  return c.error ? 'ERROR' : c.verdict === 'pass' ? 'pass' : c.verdict.toUpperCase();
}

function observed(c: ReportCheck): string {
  return c.observed ? Object.entries(c.observed).map(([k, v]) => `${k}=${v}`).join(', ') : oneLine(c.message);
}

function time(iso: string): string {
  return iso.replace(/^\d{4}-\d\d-\d\dT/, '').replace(/Z$/, '');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

function cell(s: string): string {
  return oneLine(s).replace(/\|/g, '\\|');
}
