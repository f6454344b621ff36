import { ExitCode } from '../../core/exit-codes.js';
import { formatWeights, nonZero } from '../../core/weights.js';
import { ProviderError, errorMessage } from '../../core/errors.js';
import { describeStep } from '../../core/plan.js';
import type { ProviderSnapshot } from '../../core/provider.js';
import { lockWatchdog, type DeploymentRecord, type LockInfo } from '../../core/state.js';
import { UNFINISHED, describeWeights, isUnfinished } from '../../engine/deployment-record.js';
import { describeFlagState, type FlagProvider, type FlagState } from '../../flags/flag-provider.js';
import { verdictLabel } from '../../reporters/reporter.js';
import { describeLive, liveRevision, type LiveRevision } from '../../report/live-since.js';
import { findDrift } from '../../engine/drift.js';
import { schemaVersions } from '../../engine/migrations.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { createContext, loadCommandConfig, type CommandContext } from '../context.js';
import { openStateStore } from '../open-state-store.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export interface StatusReport {
  type: 'status';
  service: string;
  provider: string;
  /** Live, from the provider (the truth), or the error that prevented reading it. */
  live: ProviderSnapshot | { error: string };
  deployment: DeploymentRecord | null;
  lock: LockInfo | null;
  /** What serves now, since when, who deployed it and from which CI run. */
  liveRevision?: LiveRevision | null;
  /** What differs from what zdd left (a deploy would refuse to start without --force). */
  drift?: string[];
  /** For a deploy in progress: whether a live zdd process holds its lock (runs it, or waits at its pause), and if not, why. */
  deployProcess?: { alive: boolean; reason: string };
  /** The flags the last run changed, live from the flag service (the record only says what was last read back). */
  flags?: LiveFlag[];
  /** The schema version each revision needs, as the records say (config `migrations`). */
  schemaVersions?: Record<string, string>;
}

export type LiveFlag = { flag: string; live: FlagState } | { flag: string; error: string };

/** Each flag the record names, read from the flag service now: a run killed between a flag write and its checkpoint leaves the record behind. */
async function liveFlags(flags: FlagProvider | undefined, deployment: DeploymentRecord | null): Promise<LiveFlag[] | undefined> {
  const names = Object.keys(deployment?.flags ?? {});
  if (!names.length) return undefined;
  if (!flags) return names.map((flag) => ({ flag, error: 'no flag service is configured (config `flags`)' }));
  return Promise.all(names.map((flag) => flags.get(flag).then((live) => ({ flag, live }), (e: unknown) => ({ flag, error: errorMessage(e) }))));
}

export default async function statusCommand(flags: { watch?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  let ctx: CommandContext;
  try {
    ctx = await createContext(globals, io, loaded);
  } catch (e) {
    // No provider (credentials, a missing resource): the recorded state is still worth printing.
    if (!(e instanceof ProviderError)) throw e;
    return recordOnly(loaded, globals, io, errorMessage(e));
  }
  return withContext(ctx, async (ctx) => {
    let report: StatusReport;
    for (;;) {
      report = await readStatus(ctx);
      print(io, report);
      if (!flags.watch || !isUnfinished(report.deployment) || io.signal.aborted) break;
      // Nothing will move it on: a watch must not wait forever for a deploy whose process is gone.
      if (report.deployProcess && !report.deployProcess.alive) break;
      await new Promise((r) => setTimeout(r, 1000));
      if (io.signal.aborted) break;
      if (!io.output.json) io.output.human('\n');
    }
    // A watch ends with the deploy's result, also when it ended before the watch began
    // (`deploy --detach` that rolled back at once): a script's `status --watch` learns it either way.
    if (flags.watch && report.deployment && !io.signal.aborted && !('error' in report.live)) return finishWatch(io, report);
    return finishStatus(io, report);
  });
}

/**
 * `status --watch` ends with the result of the deploy it followed (or found ended): 0 succeeded, 1 rolled back, 4 when
 * it stopped failed or its process is gone while it runs (a person finishes it), 6 when it stands
 * at a pause with no process waiting (promote or abort continues it).
 */
function finishWatch(io: CommandIO, report: StatusReport): number {
  const d: DeploymentRecord = report.deployment!;
  const what = `${d.kind === 'restore' ? 'Rollback' : 'Deploy'} ${d.id} of ${d.candidate.id}`;
  if (UNFINISHED.includes(d.status)) {
    // What the provider says about this deploy (a watchdog that acted for it names it).
    const notes = 'error' in report.live ? [] : (report.live.notes ?? []).filter((n) => n.includes(d.id));
    const live = 'error' in report.live ? '' : ` Live traffic: ${liveWeights(report.live)}.${notes.map((n) => ` ${n}.`).join('')}`;
    const reason = report.deployProcess?.reason ?? 'its process is gone';
    if (d.status === 'paused') {
      return finish(io, { result: 'paused', exitCode: ExitCode.Paused, message: `${what} stands at its pause and ${reason}.${live}`, hint: 'Run `zdd promote` to continue it or `zdd abort` to roll it back.' });
    }
    const step = d.inFlight ?? { index: d.stepIndex, phase: 'deploy' };
    return finish(io, {
      result: 'error',
      exitCode: ExitCode.NeedsPerson,
      message: `${what} stopped ${d.status === 'rolling-back' ? 'while rolling back' : `at step ${Math.min(step.index + 1, d.plan.length)}/${d.plan.length}`}: ${reason}.${live}`,
      hint: d.status === 'rolling-back' ? 'Run `zdd rollback` to finish the rollback.' : 'Run `zdd rollback` to put production back on stable, or `zdd promote` to continue the deploy from that step.',
    });
  }
  const ended = `${what} ended: ${d.status}${d.error ? ` (${d.error.message})` : ''}.`;
  if (d.status === 'succeeded') return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: ended });
  if (d.status === 'rolled-back') return finish(io, { result: 'rolled-back', exitCode: ExitCode.RolledBack, message: `${ended} Production is on stable ${d.stable?.id ?? ''}.`.replace(' .', '.') });
  return finish(io, { result: d.status === 'failed' ? 'failed' : 'rollback-failed', exitCode: ExitCode.NeedsPerson, message: ended, hint: 'Production needs a person: fix the cause, then `zdd rollback`.' });
}

function liveWeights(live: ProviderSnapshot): string {
  return formatWeights(nonZero(live.weights), 'no revision has traffic');
}

function print(io: CommandIO, report: StatusReport): void {
  if (io.output.json) io.output.data(report);
  else io.output.human(renderStatus(report));
}

/** Exit 5 when the provider could not be read: what is printed is the record, not production. */
function finishStatus(io: CommandIO, report: StatusReport): number {
  if ('error' in report.live) {
    return finish(io, {
      result: 'error',
      exitCode: ExitCode.ProviderBeforeChange,
      message: `Could not read production from the provider: ${report.live.error}. What is shown is the deployment record, not live traffic.`,
      hint: 'Check the provider (credentials, region, that the router or load balancer exists), then run `zdd status` again.',
    });
  }
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: 'status read; nothing was changed.' });
}

async function recordOnly(loaded: LoadedConfig, globals: GlobalOptions, io: CommandIO, error: string): Promise<number> {
  const store = await openStateStore(loaded, globals);
  const service = loaded.config.service;
  const [deployment, lock, history] = await Promise.all([store.records.latest(service), store.lock.inspect(service), store.records.history(service, 50).catch(() => [])]);
  const live = { error };
  const report: StatusReport = { type: 'status', service, provider: loaded.config.provider.type as string, live, deployment, lock, liveRevision: liveRevision(live, history), drift: [] };
  print(io, report);
  return finishStatus(io, report);
}

export async function readStatus(ctx: CommandContext): Promise<StatusReport> {
  const service = ctx.config.service;
  // Record, then lock, then record again: a deploy takes its lock before its first record and
  // writes its last record before it frees the lock, so a record that is the same on both sides
  // of the lock read is judged against the lock that really went with it.
  const recordAndLock = async () => {
    const before = await ctx.store.records.latest(service);
    const lock = await ctx.store.lock.inspect(service);
    const after = await ctx.store.records.latest(service);
    return { deployment: after, lock, settled: before?.id === after?.id && before?.updatedAt === after?.updatedAt };
  };
  const [live, { deployment, lock, settled }, history] = await Promise.all([
    ctx.provider.snapshot().catch((e) => ({ error: errorMessage(e) })),
    recordAndLock(),
    ctx.store.records.history(service, 50).catch(() => []),
  ]);
  const drift = 'error' in live || isUnfinished(deployment) ? [] : findDrift(live, history).map((f) => f.message);
  const flags = await liveFlags(ctx.flags, deployment);
  const schemas = schemaVersions(history);
  const report: StatusReport = {
    type: 'status', service, provider: ctx.provider.name, live, deployment, lock, liveRevision: liveRevision(live, history), drift,
    ...(flags ? { flags } : {}),
    ...(Object.keys(schemas).length ? { schemaVersions: schemas } : {}),
  };
  if (isUnfinished(deployment)) report.deployProcess = settled ? deployProcess(deployment, lock) : { alive: true, reason: 'its record changed while it was read' };
  return report;
}

/** Does a live zdd process hold the lock of this deploy in progress (run it, or wait at its pause)? */
export function deployProcess(d: DeploymentRecord, lock: LockInfo | null): { alive: boolean; reason: string } {
  if (lock && lock.holder.deploymentId === d.id) {
    const h = lock.holder;
    // Fenced for a moment by the provider's watchdog while it acts: the deploy's own process is gone.
    const watchdog = lockWatchdog(h);
    if (watchdog) return { alive: false, reason: `${ranIt(d)} is gone: ${watchdog.name} (pid ${h.pid}) holds its lock while it ${watchdog.action}` };
    if (!lock.stale) return { alive: true, reason: `pid ${h.pid} on ${h.host}${h.command ? ` (\`zdd ${h.command}\`)` : ''} holds its lock` };
    return { alive: false, reason: `the process that ran it (pid ${h.pid} on ${h.host}${h.command ? `, \`zdd ${h.command}\`` : ''}) is gone: ${lock.staleReason ?? 'stale lock'}` };
  }
  if (lock && !lock.stale) return { alive: false, reason: `no process runs it: the lock is held by ${lock.holder.who}@${lock.holder.host} pid ${lock.holder.pid} for another run` };
  if (d.status === 'paused') return { alive: false, reason: 'no zdd process waits at it (stopped by --until-pause, or its process ended)' };
  return { alive: false, reason: `${ranIt(d)} is gone: no process holds its lock` };
}

function ranIt(d: DeploymentRecord): string {
  return `the process that ran it (pid ${d.by.pid} on ${d.by.host}${d.by.command ? `, \`zdd ${d.by.command}\`` : ''})`;
}

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
