import { joinUrl } from '../../checks/http-check.js';
import { CheckFailedError, TrafficMismatchError, ZddError } from '../../core/errors.js';
import type { ShiftTrafficStep } from '../../core/plan.js';
import type { WeightMap } from '../../core/provider.js';
import type { DeploymentRecord } from '../../core/state.js';
import { nonZero } from '../../core/weights.js';
import { judgeSplit, observedSplitSetting, probeSplit, type ObservedSplitSetting } from '../observed-split.js';
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
    await ctx.lock.beforeProviderWrite();
    await deps.provider.router.setWeights(byRevision);
    const readBack = await deps.provider.router.getWeights();
    const mismatched = Object.entries(byRevision).filter(([id, w]) => (readBack[id] ?? 0) !== w);
    const extra = Object.entries(readBack).filter(([id, w]) => !(id in byRevision) && w > 0);
    if (mismatched.length || extra.length) {
      const seen = Object.entries(readBack).map(([id, w]) => `${id} ${w}%`).join(', ') || 'nothing';
      const want = Object.entries(byRevision).map(([id, w]) => `${id} ${w}%`).join(', ');
      throw new TrafficMismatchError(`Router reports ${seen} after zdd set ${want}`);
    }
    record.weights = { ...weights };
    memoOf(ctx).verified = { id: record.id, byRevision: nonZero(readBack) };
    deps.events.emit({ type: 'traffic', weights: { ...weights }, byRevision, verified: true });
    await observeSplit(byRevision, record, ctx);
  },
};

/**
 * After a verified shift, the split as clients meet it: real requests at the production entry
 * point, counted by the revision that answered (docs/observed-split.md). A split far from the
 * weights just read back (a stale balancer cache, a second listener, a CDN) fails the step; in a
 * rollback it only warns, and the rollback goes on.
 */
async function observeSplit(written: WeightMap, record: DeploymentRecord, ctx: StepContext): Promise<void> {
  const { deps, scope } = ctx;
  const memo = memoOf(ctx);
  const setting = (memo.observed ??= observedSplitSetting(deps.config, deps.provider.router));
  if (!setting.on) return;
  const off = (why: string) => {
    memo.observed = { on: false, why };
    deps.events.emit({ type: 'warn', message: `Observed split off for this run: ${why}` });
  };
  const url = (await deps.provider.platform.endpoints(record.candidate.id)).serviceUrl;
  if (!url) return off('the provider reports no production URL to send requests to');
  const revisionOf = setting.mapping ? await setting.mapping() : undefined;
  const headers = setting.probeHeaders ? await setting.probeHeaders() : undefined;
  const seen = await probeSplit(joinUrl(url, setting.path), { requests: setting.requests, withinMs: setting.withinMs, header: setting.header, revisionOf, headers, signal: scope.signal });
  if (setting.source === 'router' && seen.untagged > 0 && Object.keys(seen.byRevision).length === 0) {
    return off(`no answer from ${url} carried the ${setting.header} header the router names revisions with (docs/haproxy.md shows the line haproxy.cfg needs), so the split cannot be seen`);
  }
  const verdict = judgeSplit(written, seen, setting.header);
  if (verdict.inconclusive) {
    deps.events.emit({ type: 'warn', message: `Observed split not judged: ${verdict.inconclusive} (${verdict.summary})` });
    return;
  }
  if (verdict.ok) {
    deps.events.emit({ type: 'info', message: `Observed split at ${url}: ${verdict.summary}` });
    return;
  }
  const message = `The split clients meet at ${url} is not what the router reports: ${verdict.problems.join('; ')} (${verdict.summary})`;
  if (scope.phase === 'rollback') {
    deps.events.emit({ type: 'warn', message: `${message}; the rollback goes on` });
    return;
  }
  throw new CheckFailedError(message, 'Look for what else answers at the entry point: a balancer or CDN caching answers, a second listener or target group, or instances registered by hand. `observedSplit` in the config tunes or turns off this check.');
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
