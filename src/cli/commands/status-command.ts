import { ExitCode } from '../../core/exit-codes.js';
import { ProviderError, errorMessage } from '../../core/errors.js';
import { describeStep } from '../../core/plan.js';
import type { ProviderSnapshot } from '../../core/provider.js';
import type { DeploymentRecord, LockInfo } from '../../core/state.js';
import { describeWeights, isUnfinished } from '../../engine/deployment-record.js';
import { describeFlagState, type FlagProvider, type FlagState } from '../../flags/flag-provider.js';
import { verdictLabel } from '../../reporters/reporter.js';
import { describeLive, liveRevision, type LiveRevision } from '../../report/live-since.js';
import { findDrift } from '../../engine/drift.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { providerFlags } from '../../providers/provider-manifest.js';
import { createStateStore } from '../../state/create-state-store.js';
import { prepareAwsSdk } from '../../aws/sdk-notice.js';
import { commandClock, createContext, loadCommandConfig, stateStoreOptions, type CommandContext } from '../context.js';
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
  /** The flags the last run changed, live from the flag service (the record only says what was last read back). */
  flags?: LiveFlag[];
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
  const loaded = await loadCommandConfig(globals);
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
      await new Promise((r) => setTimeout(r, 1000));
      if (io.signal.aborted) break;
      if (!io.output.json) io.output.human('\n');
    }
    return finishStatus(io, report);
  });
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
  if (loaded.config.state?.type === 's3') prepareAwsSdk();
  const flags = providerFlags(String(loaded.config.provider.type), globals as Record<string, unknown>);
  const store = await createStateStore(loaded.config.state, { configDir: loaded.configDir, clock: commandClock(), options: stateStoreOptions(loaded, flags) });
  const service = loaded.config.service;
  const [deployment, lock, history] = await Promise.all([store.records.latest(service), store.lock.inspect(service), store.records.history(service, 50).catch(() => [])]);
  const live = { error };
  const report: StatusReport = { type: 'status', service, provider: loaded.config.provider.type as string, live, deployment, lock, liveRevision: liveRevision(live, history), drift: [] };
  print(io, report);
  return finishStatus(io, report);
}

export async function readStatus(ctx: CommandContext): Promise<StatusReport> {
  const [live, deployment, lock, history] = await Promise.all([
    ctx.provider.snapshot().catch((e) => ({ error: errorMessage(e) })),
    ctx.store.records.latest(ctx.config.service),
    ctx.store.lock.inspect(ctx.config.service),
    ctx.store.records.history(ctx.config.service, 50).catch(() => []),
  ]);
  const drift = 'error' in live || isUnfinished(deployment) ? [] : findDrift(live, history).map((f) => f.message);
  const flags = await liveFlags(ctx.flags, deployment);
  return { type: 'status', service: ctx.config.service, provider: ctx.provider.name, live, deployment, lock, liveRevision: liveRevision(live, history), drift, ...(flags ? { flags } : {}) };
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
      const image = r.revision.image ? `, image ${r.revision.image}` : '';
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
    out.push(`    traffic (recorded): ${describeWeights(d)}`);
    if (d.error) out.push(`    error: ${d.error.message}`);
    if (d.rollback) out.push(`    rollback reason: ${d.rollback.reason}`);
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
