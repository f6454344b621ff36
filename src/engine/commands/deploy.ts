// `zdd deploy` and `zdd plan`, and runs that change no traffic (`zdd release`): plan, preflight, record, run.
import type { Step } from '../../core/plan.js';
import type { RevisionSpec } from '../../core/provider.js';
import type { Strategy } from '../../core/strategy.js';
import { isNotSettled, newDeploymentId } from '../deployment-record.js';
import { retireKeptBeforeDeploy } from '../kept-revision.js';
import { sameAsServing, unfinished, type Outcome } from '../outcomes.js';
import { checkDrift } from '../preflight.js';
import { checkDrains } from '../drain-check.js';
import { buildPlan, currentState, type CurrentState } from '../planning.js';
import { HISTORY_LIMIT } from '../restore-target.js';
import { preflightSteps } from '../steps/index.js';
import { warnPendingContract, initMigrations } from '../migrations.js';
import type { RunKit } from '../run-kit.js';

/** A run that changes no revision and no traffic (`zdd release`, flags/flag-release.ts): the steps, recorded under the strategy's name. */
export interface InPlaceRequest {
  strategy: string;
  steps: Step[];
  lockWaitMs: number;
}

export interface DeployRequest {
  candidate: RevisionSpec;
  strategy: string;
  /** false = --no-rollback: stop where the failure happened and say so (exit 4). */
  rollbackOnFailure: boolean;
  lockWaitMs: number;
  /** --until-pause: end the command at the first manual pause (exit 6) instead of waiting there. */
  stopAtPause?: boolean;
  /** --force: start even when preflight finds drift (recorded in the record). */
  force?: boolean;
}

/** Work out the plan deploy would run, changing nothing. */
export async function plan(kit: RunKit, req: Pick<DeployRequest, 'candidate' | 'strategy'>): Promise<{ strategy: Strategy; steps: Step[]; current: CurrentState }> {
  const current = await currentState(kit.deps);
  const strategy = kit.deps.strategy(req.strategy);
  return { strategy, steps: buildPlan(kit.deps, strategy, current, req.candidate), current };
}

export async function deploy(kit: RunKit, req: DeployRequest): Promise<Outcome> {
  const { deps } = kit;
  const strategy = deps.strategy(req.strategy);
  const id = newDeploymentId(deps.clock.now());
  return kit.withLock((lock) => lock.acquire(id, req.lockWaitMs, deps.signal), async (lock, runner) => {
    const last = await deps.store.records.latest(deps.config.service);
    if (isNotSettled(last)) return unfinished(last);
    await kit.preflight();
    warnPendingContract(deps, last);
    // Before anything changes: a re-run of the same deploy (a CI retry) must not even retire the kept revision.
    // One snapshot for both questions (AWS: a handful of API calls).
    const live = await deps.provider.snapshot();
    const same = sameAsServing(await currentState(deps, live), req.candidate);
    if (same) return same;
    // The records, read once for the drift check, the orphaned kept revisions and the migrations (S3: a request per record).
    const history = deps.store.records.history(deps.config.service, HISTORY_LIMIT);
    history.catch(() => undefined); // each reader below handles a failed read as it always has
    const forced = await checkDrift(deps, !!req.force, live, history);
    await checkDrains(deps, buildPlan(deps, strategy, await currentState(deps, live), req.candidate), !!req.force);
    await retireKeptBeforeDeploy(deps, lock, last, live, history);
    const current = await currentState(deps);
    const stableImage = current.stable?.revision.image;
    if (stableImage && stableImage === req.candidate.image) {
      deps.events.emit({ type: 'warn', message: `Revision ${req.candidate.id} names the image stable ${current.stable!.revision.id} runs (${stableImage}): unless that tag moved, this deploys the same code again` });
    }
    const steps = buildPlan(deps, strategy, current, req.candidate);
    await preflightSteps(steps, deps);
    const record = kit.newRun(id, strategy.name, current.stable, req.candidate, steps);
    if (forced) record.forced = forced;
    if (deps.config.migrations) initMigrations(record, deps, await history);
    await runner.save(record);
    kit.announce(record);
    return kit.runDeploy(runner, record, strategy, req.rollbackOnFailure, req.stopAtPause);
  });
}

/**
 * A run like a deploy (same lock, record, abort, promote, rollback and exit codes) whose plan
 * changes no revision and no traffic (`zdd release` sets a flag, step by step, with bakes).
 * Stable serves throughout; the record names it as both stable and candidate.
 */
export async function runInPlace(kit: RunKit, req: InPlaceRequest): Promise<Outcome> {
  const { deps } = kit;
  const strategy = deps.strategy(req.strategy);
  const id = newDeploymentId(deps.clock.now());
  const { steps } = req;
  return kit.withLock((lock) => lock.acquire(id, req.lockWaitMs, deps.signal), async (_lock, runner) => {
    const last = await deps.store.records.latest(deps.config.service);
    if (isNotSettled(last)) return unfinished(last);
    await preflightSteps(steps, deps);
    const current = await currentState(deps).catch(() => ({ stable: null, others: [] }) as CurrentState);
    const serving = current.stable?.revision ?? { id: '(no revision)' };
    const record = kit.newRun(id, strategy.name, current.stable, serving, steps);
    record.weights = { stable: current.stable ? 100 : 0, candidate: 0 };
    await runner.save(record);
    kit.announce(record);
    return kit.runDeploy(runner, record, strategy, true);
  });
}
