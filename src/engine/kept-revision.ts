import type { ProviderSnapshot } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { drainMs, nowIso, type EngineDeps } from './engine-deps.js';
import type { LockSession } from './lock-session.js';

/** Whether the record keeps a revision (blue-green's previous stable) that is not retired yet. */
export function keptRevision(record: DeploymentRecord | null): NonNullable<DeploymentRecord['kept']> | null {
  return record?.kept && !record.kept.retired ? record.kept : null;
}

export function keptIsDue(deps: Pick<EngineDeps, 'clock'>, kept: NonNullable<DeploymentRecord['kept']>): boolean {
  return Date.parse(kept.retireAt) <= deps.clock.now();
}

/**
 * Stop the kept revision of `record` once the router gives it no traffic; records that it is gone.
 * Returns true, or (with a warning) the weight it still has: retiring it would cut production.
 */
export async function retireKept(deps: EngineDeps, lock: LockSession, record: DeploymentRecord): Promise<true | number> {
  const kept = record.kept!;
  const weights = await deps.provider.router.getWeights();
  const weight = weights[kept.revision.id] ?? 0;
  if (weight > 0) {
    deps.events.emit({ type: 'warn', message: `Not retiring ${kept.revision.id}: the router still gives it ${weight}%` });
    return weight;
  }
  await lock.beforeProviderWrite();
  await deps.provider.platform.retire(kept.revision.id, { drainMs: drainMs(deps) });
  kept.retired = true;
  if (record.stable?.id === kept.revision.id) record.replicas.stable = 0;
  await lock.assertHeld();
  await deps.store.records.save({ ...record, updatedAt: nowIso(deps) });
  deps.events.emit({ type: 'info', message: `Retired kept revision ${kept.revision.id}` });
  return true;
}

/**
 * Before a new deploy: the kept revision is retired (early, when not due yet) to make room. So is
 * every revision an older deploy kept that still runs at 0% (one that had traffic when its turn came,
 * e.g. weights changed by hand and a deploy forced past them): no record keeps it any more, and only
 * the latest record's kept revision would ever be looked at again. Revisions no record names are
 * never stopped (they were started outside zdd), nor those with weight.
 */
export async function retireKeptBeforeDeploy(deps: EngineDeps, lock: LockSession, last: DeploymentRecord | null, live: ProviderSnapshot, candidateId: string, history: DeploymentRecord[]): Promise<void> {
  const kept = keptRevision(last);
  if (kept && last) {
    if (!keptIsDue(deps, kept)) deps.events.emit({ type: 'info', message: `Retiring kept revision ${kept.revision.id} early: a new deploy replaces it` });
    await retireKept(deps, lock, last);
  }
  const keptBefore = new Map<string, string>();
  for (const r of history) {
    if (r.id === last?.id || !r.kept || r.kept.retired) continue;
    if (!keptBefore.has(r.kept.revision.id)) keptBefore.set(r.kept.revision.id, r.id);
  }
  const serving = new Set([last?.stable?.id, last?.candidate.id, kept?.revision.id, candidateId].filter((x): x is string => !!x));
  for (const r of live.revisions) {
    const id = r.revision.id;
    const by = keptBefore.get(id);
    if (!by || serving.has(id) || (live.weights[id] ?? 0) > 0 || !(r.desired > 0 || (r.healthy ?? 0) > 0)) continue;
    deps.events.emit({ type: 'info', message: `Retiring ${id}: deploy ${by} kept it, it still runs at 0%, and no deploy keeps it any more` });
    await lock.beforeProviderWrite();
    await deps.provider.platform.retire(id, { drainMs: drainMs(deps) });
  }
}
