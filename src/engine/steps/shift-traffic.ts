import { joinUrl } from '../../checks/http-check.js';
import { CheckFailedError, TrafficMismatchError, ZddError } from '../../core/errors.js';
import type { ShiftTrafficStep } from '../../core/plan.js';
import type { WeightMap } from '../../core/provider.js';
import type { DeploymentRecord } from '../../core/state.js';
import { differingRevisions, formatWeights, nonZero } from '../../core/weights.js';
import { judgeSplit, observedSplitSetting, probeSplit, type ObservedSplitSetting, type SplitVerdict } from '../observed-split.js';
import { revisionOf, type StepContext, type StepHandler } from './step-kind.js';

/** What shifts remember across one runner's steps. */
interface ShiftMemo {
  /** The weights this runner last read back, per deploy: what the router should still say at the next shift. */
  verified: { id: string; byRevision: WeightMap } | null;
  /** The observed-split setting of this run (turned off when a router's answers turn out to carry no tag). */
  observed?: ObservedSplitSetting;
}

// Stryker disable next-line StringLiteral,ObjectLiteral: any key works that only this kind uses; `verified` undefined reads as null
const memoOf = (ctx: StepContext) => ctx.memo<ShiftMemo>('shiftTraffic', () => ({ verified: null }));

/** One router call, then read back: promise 2. No weight for a revision that is not healthy: promise 1. */
export const shiftTraffic: StepHandler<ShiftTrafficStep> = {
  async run({ weights }, ctx) {
    const { deps } = ctx;
    const { record } = ctx.scope;
    const total = weights.stable + weights.candidate;
    if (total !== 100 && total !== 0) throw new ZddError('bad-plan', `Plan error: weights must sum to 100, got stable ${weights.stable} + candidate ${weights.candidate}`);
    for (const role of ['stable', 'candidate'] as const) {
      if (weights[role] > 0 && !record.healthy.includes(role)) {
        throw new ZddError('unhealthy-target', `Refusing to send ${weights[role]}% of traffic to ${role} ${revisionOf(record, role).id}: it has not passed its health checks`);
      }
      if (weights[role] > 0 && !record[role]) throw new ZddError('bad-plan', `Plan error: ${role} has no revision but was given ${weights[role]}%`);
    }
    const byRevision: WeightMap = {};
    // A restore reads "v2 100% | v3 0%": the revision being put back first.
    if (record.kind === 'restore') byRevision[record.candidate.id] = weights.candidate;
    if (record.stable) byRevision[record.stable.id] = weights.stable;
    byRevision[record.candidate.id] = weights.candidate;
    await warnIfChangedBehindUs(record, ctx);
    const readBack = await writeVerified(byRevision, ctx);
    record.weights = { ...weights };
    memoOf(ctx).verified = { id: record.id, byRevision: nonZero(readBack) };
    deps.events.emit({ type: 'traffic', weights: { ...weights }, byRevision, verified: true });
    await observeSplit(byRevision, record, ctx);
  },
};

/** One router call, then read back (promise 2): the weights the router reports, or a TrafficMismatchError. */
async function writeVerified(byRevision: WeightMap, ctx: StepContext): Promise<WeightMap> {
  const { router } = ctx.deps.provider;
  await ctx.lock.beforeProviderWrite();
  await router.setWeights(byRevision);
  const readBack = await router.getWeights();
  const mismatched = Object.entries(byRevision).filter(([id, w]) => (readBack[id] ?? 0) !== w);
  const extra = Object.entries(readBack).filter(([id, w]) => !(id in byRevision) && w > 0);
  if (mismatched.length || extra.length) {
    const seen = Object.entries(readBack).map(([id, w]) => `${id} ${w}%`).join(', ') || 'nothing';
    const want = Object.entries(byRevision).map(([id, w]) => `${id} ${w}%`).join(', ');
    throw new TrafficMismatchError(`Router reports ${seen} after zdd set ${want}`);
  }
  return readBack;
}

/** One probe of the split clients meet, judged against the weights zdd wrote. */
interface SplitLook {
  verdict: SplitVerdict;
  /** Answers came, but none carried the router's tag: a proxy configured without it (or only the router's own error pages). */
  untaggedOnly: boolean;
  /** What the router itself went through while the probe ran (a reload), where it can tell. */
  witness?: () => Promise<string | undefined>;
}

async function lookAtSplit(url: string, setting: Extract<ObservedSplitSetting, { on: true }>, written: WeightMap, ctx: StepContext): Promise<SplitLook> {
  const { router } = ctx.deps.provider;
  // The witness is a hint for the message: a router that cannot answer it costs the probe nothing.
  const witness = await router.witnessProbe?.().catch(() => undefined);
  const revisionOf = setting.mapping ? await setting.mapping() : undefined;
  const headers = setting.probeHeaders ? await setting.probeHeaders() : undefined;
  const seen = await probeSplit(joinUrl(url, setting.path), { requests: setting.requests, withinMs: setting.withinMs, header: setting.header, revisionOf, headers, signal: ctx.scope.signal });
  const untaggedOnly = setting.source === 'router' && seen.untagged > 0 && Object.keys(seen.byRevision).length === 0;
  return { verdict: judgeSplit(written, seen, setting.header), untaggedOnly, ...(witness ? { witness } : {}) };
}

/**
 * After a verified shift, the split as clients meet it: real requests at the production entry
 * point, counted by the revision that answered (docs/observed-split.md). A split far from the
 * weights just read back (a stale balancer cache, a second listener, a CDN) fails the step, once a
 * second probe confirmed it: a failed first probe is followed by a read-back of the router's
 * weights (written again if the router lost them, e.g. an HAProxy reload) and one more probe, and a
 * second probe that agrees with the weights lets the step go on with a warning. In a rollback a
 * failed probe only warns, and the rollback goes on.
 */
async function observeSplit(written: WeightMap, record: DeploymentRecord, ctx: StepContext): Promise<void> {
  const { deps, scope } = ctx;
  const memo = memoOf(ctx);
  const setting = (memo.observed ??= observedSplitSetting(deps.config, deps.provider.router));
  if (!setting.on) return;
  const warn = (message: string) => deps.events.emit({ type: 'warn', message });
  const off = (why: string) => {
    memo.observed = { on: false, why };
    warn(`Observed split off for this run: ${why}`);
  };
  const url = (await deps.provider.platform.endpoints(record.candidate.id)).serviceUrl;
  if (!url) return off('the provider reports no production URL to send requests to');
  const untagged = `no answer from ${url} carried the ${setting.header} header the router names revisions with (docs/haproxy.md shows the line haproxy.cfg needs), so the split cannot be seen`;
  const failed = `The split clients meet at ${url} is not what the router reports`;

  const first = await lookAtSplit(url, setting, written, ctx);
  if (!first.untaggedOnly && first.verdict.ok) {
    if (first.verdict.inconclusive) warn(`Observed split not judged: ${first.verdict.inconclusive} (${first.verdict.summary})`);
    else deps.events.emit({ type: 'info', message: `Observed split at ${url}: ${first.verdict.summary}` });
    return;
  }
  if (scope.phase === 'rollback') {
    if (first.untaggedOnly) return off(untagged);
    return warn(`${failed}: ${first.verdict.problems.join('; ')} (${first.verdict.summary}); the rollback goes on`);
  }
  // Confirm before failing: a router that lost zdd's weights for a moment (an HAProxy reload during
  // the probe) gives a first probe of its own error pages, not a CDN. Bounded: one more probe, only here.
  const router = await routerAfterFailedLook(written, first, ctx);
  const second = await lookAtSplit(url, setting, written, ctx);
  if (first.untaggedOnly && second.untaggedOnly) return off(untagged);
  // A first probe that saw no tag judged nothing: a second too short of answers leaves it unjudged, as a first would.
  if (first.untaggedOnly && second.verdict.inconclusive) return warn(`Observed split not judged: ${second.verdict.inconclusive} (${second.verdict.summary})`);
  if (!second.untaggedOnly && second.verdict.ok && !second.verdict.inconclusive) {
    return warn(`Observed split at ${url}: the first probe saw ${first.verdict.summary}; ${router}; a second probe agreed: ${second.verdict.summary}`);
  }
  const during = await second.witness?.().catch(() => undefined);
  const why = second.verdict.inconclusive ? `the first probe disagreed and a second could not judge: ${second.verdict.inconclusive}` : second.verdict.problems.join('; ');
  throw new CheckFailedError(
    `${failed}, in two probes: ${why}. First probe: ${first.verdict.summary}; ${router}; second probe${during ? ` (${during})` : ''}: ${second.verdict.summary}`,
    'Look for what else answers at the entry point: a balancer or CDN caching answers, a second listener or target group, or instances registered by hand. `observedSplit` in the config tunes or turns off this check.',
  );
}

/**
 * After a failed probe: what the router says of it. Its weights are read back; weights it lost are
 * written again (and read back) before the second probe. Names what the router witnessed, if anything.
 */
async function routerAfterFailedLook(written: WeightMap, look: SplitLook, ctx: StepContext): Promise<string> {
  const witnessed = await look.witness?.().catch(() => undefined);
  const held = nonZero(await ctx.deps.provider.router.getWeights());
  let note: string;
  if (differingRevisions(held, nonZero(written)).length === 0) {
    note = `the router's weights read back as zdd wrote them (${formatWeights(nonZero(written))})`;
  } else {
    const readBack = await writeVerified(written, ctx);
    memoOf(ctx).verified = { id: ctx.scope.record.id, byRevision: nonZero(readBack) };
    note = `the router had lost zdd's weights (it held ${formatWeights(held, 'no weight on any revision')}); zdd wrote ${formatWeights(nonZero(written))} again`;
  }
  return witnessed ? `${witnessed}; ${note}` : note;
}

/**
 * Between two of this run's shifts, the router should still hold what zdd verified last. If it
 * does not, someone (or Terraform/CDK re-applying a listener) changed it: say so, then go on
 * (the next write puts the planned weights back). One read, and only from the second shift on.
 */
async function warnIfChangedBehindUs(record: DeploymentRecord, ctx: StepContext): Promise<void> {
  const { deps } = ctx;
  const last = memoOf(ctx).verified;
  // Stryker disable next-line ConditionalExpression: one runner runs one record (a deploy and its own rollback); the id check only guards a runner reused for another
  if (!last || last.id !== record.id) return;
  const now = nonZero(await deps.provider.router.getWeights());
  const ids = [...new Set([...Object.keys(now), ...Object.keys(last.byRevision)])].sort();
  const changed = ids.filter((id) => (now[id] ?? 0) !== (last.byRevision[id] ?? 0));
  if (!changed.length) return;
  const detail = changed.map((id) => `${id} ${now[id] ?? 0}% (zdd set ${last.byRevision[id] ?? 0}%)`).join(', ');
  deps.events.emit({
    type: 'warn',
    message: `The router changed between two of zdd's steps: ${detail}. Someone, or infrastructure-as-code re-applying the listener, changed it (see docs/aws.md, "Keeping Terraform/CDK off the weights"); zdd sets the planned weights again.`,
  });
}
