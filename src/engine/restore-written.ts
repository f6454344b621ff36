import { LockHeldError, ZddError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { WeightMap } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { differingRevisions, formatWeights, nonZero } from '../core/weights.js';
import { writtenWeights } from './drift.js';
import { nowIso, type EngineDeps } from './engine-deps.js';
import type { LockSession } from './lock-session.js';
import type { Outcome } from './outcomes.js';

/** What `zdd restore` would write: the weights the last finished record says zdd left, against the router's now. */
export interface WrittenRestorePlan {
  record: DeploymentRecord;
  live: WeightMap;
  want: WeightMap;
  /** Revisions whose share changes, sorted. */
  changes: string[];
}

/** `v1 20% → 0%, v2 80% → 100%` */
export function describeChanges(plan: WrittenRestorePlan): string {
  return plan.changes.map((id) => `${id} ${plan.live[id] ?? 0}% → ${plan.want[id] ?? 0}%`).join(', ');
}

/**
 * Work out `zdd restore`, changing nothing: the last finished record's written weights against the
 * router's. Throws (nothing changed) when nothing is recorded, the last run did not finish (exit 3
 * when a live process runs it), `zdd down` was last, or a revision to get traffic no longer runs.
 */
export async function planWrittenRestore(deps: EngineDeps, lockIsOurs = false): Promise<WrittenRestorePlan> {
  const { service } = deps.config;
  const record = await deps.store.records.latest(service);
  if (!record) {
    throw new ZddError('restore-nothing-recorded', `No deploy of ${service} is recorded in ${deps.store.location}: there are no weights zdd wrote to put back. Nothing was changed.`, {
      exitCode: ExitCode.Usage,
      hint: 'Run `zdd deploy` to start the service.',
    });
  }
  if (record.status !== 'succeeded' && record.status !== 'rolled-back') {
    const lock = lockIsOurs ? null : await deps.store.lock.inspect(service);
    if (lock && !lock.stale) throw new LockHeldError(service, lock.holder, false);
    throw new ZddError('restore-unfinished', `The last run (${record.id}, ${record.candidate.id}) did not finish: it is ${record.status}, so there is no finished state to put back. Nothing was changed.`, {
      exitCode: ExitCode.Usage,
      hint: '`zdd rollback` finishes it (all traffic back on its stable); `zdd promote` continues it.',
    });
  }
  if (record.down) {
    throw new ZddError('restore-after-down', `\`zdd down\` stopped everything after deploy ${record.id} (${record.down.at}): zdd left no traffic to put back. Nothing was changed.`, {
      exitCode: ExitCode.Usage,
      hint: 'Run `zdd deploy` to start the service again.',
    });
  }
  const want = nonZero(writtenWeights(record));
  const snapshot = await deps.provider.snapshot();
  const gone = Object.keys(want).filter((id) => {
    const r = snapshot.revisions.find((x) => x.revision.id === id);
    return !r || r.desired === 0 || r.healthy === 0;
  });
  if (gone.length) {
    throw new ZddError('restore-revision-gone', `Deploy ${record.id} left ${formatWeights(want)}, but ${gone.join(', ')} no longer ${gone.length === 1 ? 'runs' : 'run'} (no healthy instance): restore cannot send traffic there. Nothing was changed.`, {
      exitCode: ExitCode.Usage,
      hint: `\`zdd rollback --to ${gone[0]}\` starts ${gone[0]} again and puts it on 100%; \`zdd deploy --force\` deploys from production as it is.`,
    });
  }
  const live = nonZero(snapshot.weights);
  return { record, live, want, changes: differingRevisions(live, want) };
}

/**
 * Write the plan's weights in one router call and read them back; notes on the record that the
 * operator put production back to it. Revisions that have traffic now and none in the plan go to 0.
 */
export async function applyWrittenRestore(deps: EngineDeps, lock: LockSession, plan: WrittenRestorePlan): Promise<Outcome> {
  const write: WeightMap = { ...Object.fromEntries(Object.keys(plan.live).map((id) => [id, 0])), ...plan.want };
  await lock.beforeProviderWrite();
  await deps.provider.router.setWeights(write);
  const readBack = nonZero(await deps.provider.router.getWeights());
  if (differingRevisions(readBack, plan.want).length) {
    throw new ZddError('restore-mismatch', `Router reports ${formatWeights(readBack, 'nothing')} after zdd set ${formatWeights(plan.want)}.`, {
      exitCode: ExitCode.NeedsPerson,
      hint: 'Something else writes the router (Terraform/CDK, another tool): stop it, then run `zdd restore` again. `zdd status` shows what serves now.',
    });
  }
  const { record } = plan;
  const restored = { at: nowIso(deps), by: deps.holder, from: plan.live };
  await lock.assertHeld();
  await deps.store.records.save({ ...record, restoredWritten: [...(record.restoredWritten ?? []), restored], updatedAt: restored.at });
  return {
    result: 'succeeded',
    exitCode: ExitCode.Ok,
    message: `Restored what deploy ${record.id} wrote: ${formatWeights(plan.want)} (read back; was ${formatWeights(plan.live, 'nothing')}).`,
  };
}
