import type { ProviderSnapshot } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { HISTORY_LIMIT } from './restore-target.js';
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
 * Revisions an older record kept (not retired) that still run, and that the latest record neither
 * serves nor keeps: left behind when a deploy forced past drift could not retire them (they had
 * traffic then), since only the latest record's kept revision is retired by its own record.
 */
export async function orphanedKept(deps: EngineDeps, live: ProviderSnapshot, records = deps.store.records.history(deps.config.service, HISTORY_LIMIT)): Promise<string[]> {
  const history = await records;
  const latest = history[0];
  if (!latest) return [];
  const current = new Set([latest.candidate.id, latest.stable?.id, keptRevision(latest)?.revision.id]);
  const running = new Set(live.revisions.filter((r) => r.desired > 0 || (r.healthy ?? 0) > 0).map((r) => r.revision.id));
  const ids = history.slice(1).map((r) => keptRevision(r)?.revision.id).filter((id): id is string => !!id && !current.has(id) && running.has(id));
  return [...new Set(ids)];
}

/** Stop orphaned kept revisions (see orphanedKept) the router gives no traffic; one with traffic is named and left running. Returns the ids retired. */
export async function retireOrphans(deps: EngineDeps, lock: LockSession, live: ProviderSnapshot, records?: Promise<DeploymentRecord[]>): Promise<string[]> {
  const orphans = await orphanedKept(deps, live, records);
  if (!orphans.length) return [];
  const weights = await deps.provider.router.getWeights();
  const retired: string[] = [];
  for (const id of orphans) {
    const weight = weights[id] ?? 0;
    if (weight > 0) {
      deps.events.emit({ type: 'warn', message: `Not retiring ${id} (kept by an earlier deploy, kept by none since): the router still gives it ${weight}%` });
      continue;
    }
    await lock.beforeProviderWrite();
    await deps.provider.platform.retire(id, { drainMs: drainMs(deps) });
    retired.push(id);
    deps.events.emit({ type: 'info', message: `Retired ${id}: an earlier deploy kept it and no deploy since has (it still ran with no traffic)` });
  }
  return retired;
}

/** Before a new deploy: the kept revision is retired (early, when not due yet) to make room, and so is any orphaned one. */
export async function retireKeptBeforeDeploy(deps: EngineDeps, lock: LockSession, last: DeploymentRecord | null, live: ProviderSnapshot, records: Promise<DeploymentRecord[]>): Promise<void> {
  const kept = keptRevision(last);
  if (kept && last) {
    if (!keptIsDue(deps, kept)) deps.events.emit({ type: 'info', message: `Retiring kept revision ${kept.revision.id} early: a new deploy replaces it` });
    await retireKept(deps, lock, last);
  }
  await retireOrphans(deps, lock, live, records);
}
