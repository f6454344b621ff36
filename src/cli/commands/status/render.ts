import { describeStep } from '../../../core/plan.js';
import type { ProviderSnapshot } from '../../../core/provider.js';
import { formatWeights, nonZero } from '../../../core/weights.js';
import { describeWeights, isUnfinished } from '../../../engine/deployment-record.js';
import { describeFlagState } from '../../../flags/flag-provider.js';
import { verdictLabel } from '../../../reporters/reporter.js';
import { describeLive } from '../../../report/live-since.js';
import type { CommandIO } from '../../run-cli-command.js';
import type { StatusReport } from './gather.js';

// `zdd status`, rendered: the report as text for people, or as one JSON object.

/** The report on stdout: one JSON object with --json, else the text below. */
export function printStatus(io: CommandIO, report: StatusReport): void {
  if (io.output.json) io.output.data(report);
  else io.output.human(renderStatus(report));
}

/** The live weights of revisions with traffic, in one line. */
export function liveWeights(live: ProviderSnapshot): string {
  return formatWeights(nonZero(live.weights), 'no revision has traffic');
}

/** The report as text for people: live traffic and revisions, the last deploy and where it stands, the lock. */
export function renderStatus(s: StatusReport): string {
  const out: string[] = [`Service ${s.service} (provider ${s.provider})`];
  if (s.liveRevision !== undefined) out.push(describeLive(s.liveRevision));
  for (const d of s.drift ?? []) out.push(`  DRIFT: ${d}`);
  if ('error' in s.live) out.push(`  live: could not read from the provider: ${s.live.error}`);
  else {
    const weights = Object.entries(s.live.weights).filter(([, w]) => w > 0);
    out.push(`  traffic (live): ${weights.length ? weights.map(([id, w]) => `${id} ${w}%`).join(' | ') : 'no revision has traffic'}`);
    for (const r of s.live.revisions) {
      const schema = s.schemaVersions?.[r.revision.id];
      const image = `${r.revision.image ? `, image ${r.revision.image}` : ''}${schema ? `, needs schema ${schema}` : ''}`;
      // A slot scaled to nothing (a retired blue-green slot on AWS) is idle, not unhealthy.
      if (r.desired === 0) out.push(`  revision ${r.revision.id}: retired (idle, no instances)${image}`);
      else out.push(`  revision ${r.revision.id}: ${r.healthy ?? '?'}/${r.desired} instances healthy${image}`);
    }
    if (s.live.testRoute) out.push(`  test route → ${s.live.testRoute}`);
    for (const n of s.live.notes ?? []) out.push(`  note: ${n}`);
  }
  const d = s.deployment;
  if (!d) out.push('  last deploy: none recorded');
  else {
    if (d.kind === 'restore') out.push(`  last run: ${d.id} rollback ${d.stable?.id ?? '(nothing)'} → ${d.candidate.id} (restore the previous revision): ${d.status.toUpperCase()}`);
    else out.push(`  last deploy: ${d.id} ${d.stable?.id ?? '(nothing)'} → ${d.candidate.id} with ${d.strategy}: ${d.status.toUpperCase()}`);
    const at = d.inFlight ?? (d.stepIndex < d.plan.length ? { index: d.stepIndex, phase: 'deploy' as const } : null);
    if (d.status === 'rolling-back' && d.rollback) {
      out.push(`    rollback step ${Math.min(d.rollback.stepIndex + 1, d.rollback.plan.length)}/${d.rollback.plan.length}: ${d.rollback.plan[d.rollback.stepIndex] ? describeStep(d.rollback.plan[d.rollback.stepIndex]) : 'done'}`);
    } else if (isUnfinished(d) && at) {
      out.push(`    step ${at.index + 1}/${d.plan.length}: ${d.plan[at.index] ? describeStep(d.plan[at.index]) : '—'}${d.inFlight ? ' (in flight)' : ''}`);
    } else out.push(`    ${d.stepIndex}/${d.plan.length} steps done${d.finishedAt ? `, finished ${d.finishedAt}` : ''}`);
    if (s.deployProcess && !s.deployProcess.alive) {
      const next = d.status === 'paused' ? '' : d.status === 'rolling-back' ? ' `zdd rollback` finishes the rollback.' : ' `zdd rollback` restores stable; `zdd promote` continues from this step.';
      out.push(`    process: GONE — ${s.deployProcess.reason}; nothing moves it on.${next}`);
    }
    if (d.down) out.push(`    stopped on purpose: \`zdd down\` by ${d.down.by.who}@${d.down.by.host} at ${d.down.at}; the next deploy starts from nothing`);
    else out.push(`    traffic (recorded): ${describeWeights(d)}`);
    if (d.error) out.push(`    error: ${d.error.message}`);
    if (d.rollback) out.push(`    rollback reason: ${d.rollback.reason}`);
    for (const phase of ['expand', 'contract'] as const) {
      const m = d.migrations?.[phase];
      if (!m) continue;
      const when = m.state === 'pending' ? (m.dueAt ? ` (due ${m.dueAt})` : ' (run `zdd contract`)') : m.state === 'running' && !s.deployProcess?.alive ? ' — zdd stopped while it ran: check the database, then --migration-ran or --migration-not-run' : '';
      out.push(`    migration ${phase} ${m.id}: ${m.state.toUpperCase()}${when}${m.settledBy ? `; settled by ${m.settledBy}` : ''}`);
    }
    if (d.kept && !d.kept.retired) out.push(`    kept: ${d.kept.revision.id} until ${d.kept.retireAt} (instant rollback)`);
    for (const [flag, f] of Object.entries(d.flags ?? {})) {
      const now = s.flags?.find((l) => l.flag === flag);
      const live = !now ? '' : 'live' in now ? `; live now ${describeFlagState(now.live)}` : `; live now: could not read it (${now.error})`;
      out.push(`    flag "${flag}" (${f.before.environment}): before ${describeFlagState(f.before)}; last read back ${f.last ? describeFlagState(f.last) : '(not written yet)'}${live}`);
    }
    // The latest result of each check, in the order they last reported.
    const latest = new Map<string, (typeof d.verdicts)[number]>();
    for (const v of d.verdicts) {
      const key = `${v.gate ?? ''}/${v.check}`;
      latest.delete(key);
      latest.set(key, v);
    }
    const verdicts = [...latest.values()].slice(-8);
    if (verdicts.length) {
      out.push('    last checks:');
      for (const v of verdicts) out.push(`      ${verdictLabel(v).padEnd(12)} ${v.check}: ${v.message}`);
    }
    if (d.status === 'paused') out.push('    run `zdd promote` to continue or `zdd abort` to roll back');
    if (d.status === 'rollback-failed' || d.status === 'failed') out.push('    production needs a person: fix the cause, then `zdd rollback`');
  }
  if (s.lock) {
    out.push(`  lock: held by ${s.lock.holder.who}@${s.lock.holder.host} pid ${s.lock.holder.pid} since ${s.lock.holder.since}${s.lock.holder.ciRunUrl ? ` (${s.lock.holder.ciRunUrl})` : ''}${s.lock.stale ? ` — STALE: ${s.lock.staleReason}` : ''}`);
  } else out.push('  lock: free');
  return `${out.join('\n')}\n`;
}
