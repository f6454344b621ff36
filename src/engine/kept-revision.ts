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

/** Before a new deploy: the kept revision is retired (early, when not due yet) to make room. */
export async function retireKeptBeforeDeploy(deps: EngineDeps, lock: LockSession, last: DeploymentRecord | null): Promise<void> {
  const kept = keptRevision(last);
  if (!kept || !last) return;
  if (!keptIsDue(deps, kept)) deps.events.emit({ type: 'info', message: `Retiring kept revision ${kept.revision.id} early: a new deploy replaces it` });
  await retireKept(deps, lock, last);
}
