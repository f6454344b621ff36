// `zdd promote`: go on past a pause, or continue a run whose process is gone from its checkpoint.
import { ExitCode } from '../../core/exit-codes.js';
import { describeStep } from '../../core/plan.js';
import type { DeploymentRecord } from '../../core/state.js';
import { endLeftoverHook } from '../left-over-hook.js';
import { nothingToDo, restoreOutcome, type Outcome } from '../outcomes.js';
import { writtenWeights } from '../drift.js';
import { differingRevisions, formatWeights, nonZero } from '../../core/weights.js';
import { requestOnRecord } from '../remote-requests.js';
import { settleMigrationInFlight, type MigrationAnswer } from '../migrations.js';
import type { RunKit } from '../run-kit.js';
import { rollbackUnfinished } from './rollback.js';

/**
 * `zdd promote`: a deploy paused by a live process is told to go on; a deploy whose process is
 * gone is continued here from its last checkpoint.
 */
export async function promote(kit: RunKit, opts: { stopAtPause?: boolean; migrationAnswer?: MigrationAnswer } = {}): Promise<Outcome> {
  const { deps } = kit;
  const record = await deps.store.records.latest(deps.config.service);
  if (!record || !['running', 'paused', 'failed', 'rolling-back'].includes(record.status)) {
    return nothingToDo('No deploy is in progress; nothing to promote.');
  }
  const lock = await deps.store.lock.inspect(deps.config.service);
  if (lock && !lock.stale && lock.holder.deploymentId === record.id) {
    if (record.status === 'rolling-back') return nothingToDo(`Deploy ${record.id} is rolling back (pid ${lock.holder.pid} on ${lock.holder.host}); nothing to promote.`);
    await requestOnRecord(deps.store.records, deps.config.service, record.id, 'promote', deps.clock);
    return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Asked deploy ${record.id} (pid ${lock.holder.pid} on ${lock.holder.host}) to go on past its pause.` };
  }
  // A rollback cut short cannot be promoted back: finishing it is the only way to a known state.
  if (record.status === 'rolling-back') {
    deps.events.emit({ type: 'info', message: `Deploy ${record.id} was rolling back when its process died; finishing the rollback (a rollback is never undone by promote)` });
    return rollbackUnfinished(kit, record, { migrationAnswer: opts.migrationAnswer });
  }
  return resume(kit, record, opts.stopAtPause, opts.migrationAnswer);
}

/** Continue a run whose process is gone from its last checkpoint (promote; rollback of a restore). */
export function resume(kit: RunKit, record: DeploymentRecord, stopAtPause = false, migrationAnswer?: MigrationAnswer): Promise<Outcome> {
  const { deps } = kit;
  return kit.withLock((session) => session.takeOver(record.id), async (_lock, runner) => {
    await kit.preflight();
    await endLeftoverHook(deps, runner, record, 'resume');
    // A migration cut short is settled by a person before anything goes on (docs/migrations.md).
    await settleMigrationInFlight(deps, record, migrationAnswer, 'promote', () => runner.save(record));
    deps.events.emit({ type: 'info', message: `Continuing ${kit.isRestore(record) ? 'rollback' : 'deploy'} ${record.id} from step ${record.stepIndex + 1} of ${record.plan.length} (its process is gone)` });
    const strategy = deps.strategy(record.strategy);
    // The step in flight when the process died is run again (steps are idempotent), except a
    // pause: promoting means going past it. When the router no longer holds what the record
    // says, though, going on would jump past weights never baked: go back and set them again.
    const back = kit.isRestore(record) ? undefined : await lastShiftIfTrafficMoved(kit, record);
    if (back !== undefined) record.stepIndex = back;
    else if (record.plan[record.stepIndex]?.kind === 'pause') record.stepIndex += 1;
    record.status = 'running';
    record.by = { ...deps.holder, deploymentId: record.id };
    kit.announce(record, record.stepIndex);
    const outcome = await kit.runDeploy(runner, record, strategy, true, stopAtPause);
    return kit.isRestore(record) ? restoreOutcome(record, outcome) : outcome;
  });
}

/**
 * A deploy resumed after its process died: if the router's weights are no longer the ones its
 * record last verified (a provider's watchdog puts stable back when a deploy dies),
 * the index of the last traffic step at or before the checkpoint, to run again; else undefined.
 * A manual pause is left to promote as it is: the step after it sets the weights anyway.
 */
export async function lastShiftIfTrafficMoved(kit: RunKit, record: DeploymentRecord): Promise<number | undefined> {
  const step = record.plan[record.stepIndex];
  if (!step || (step.kind === 'pause' && step.durationMs === undefined)) return undefined;
  const live = await kit.deps.provider.router.getWeights().catch(() => undefined);
  if (!live) return undefined; // the step itself will meet the provider's error
  const want = writtenWeights(record);
  if (differingRevisions(live, want).length === 0) return undefined;
  let back = record.stepIndex;
  while (back >= 0 && record.plan[back].kind !== 'shiftTraffic') back--;
  // The step in flight sets the weights itself when run again (a shift cut short).
  if (back < 0 || back === record.stepIndex) return undefined;
  const show = (w: Record<string, number>) => formatWeights(nonZero(w), 'none');
  // The watchdog the provider declares, if any (the local router's dead-man's switch): the engine names none itself.
  const watchdog = kit.deps.provider.capabilities.watchdog;
  kit.deps.events.emit({
    type: 'warn',
    message: `The router holds ${show(live)}, not the ${show(want)} deploy ${record.id} last verified: it changed after that deploy's process died${watchdog ? ` (${watchdog.name} ${watchdog.action})` : ''}. Going back to step ${back + 1} (${describeStep(record.plan[back])}) to set the weights again and bake them.`,
  });
  return back;
}
