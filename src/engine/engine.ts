import { InterruptedError, LockHeldError, ProviderError, UsageError, ZddError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { describeStep, type Step } from '../core/plan.js';
import type { RevisionSpec } from '../core/provider.js';
import type { DeploymentRecord, LockInfo } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';
import { configuredHookPoints } from '../hooks/hook-runner.js';
import { NOT_SETTLED, describeWeights, isNotSettled, newDeploymentId, newRecord } from './deployment-record.js';
import { drainMs, nowIso, type EngineDeps } from './engine-deps.js';
import { endLeftoverHook } from './left-over-hook.js';
import { keptIsDue, keptRevision, orphanedKept, retireKept, retireKeptBeforeDeploy, retireOrphans } from './kept-revision.js';
import { LockSession } from './lock-session.js';
import { deploySucceeded, nothingToDo, restoreOutcome, sameAsServing, stoppedAtPause, unfinished, wordingOf, type Outcome } from './outcomes.js';
import { writtenWeights } from './drift.js';
import { differingRevisions, formatWeights, nonZero } from '../core/weights.js';
import { checkDrift } from './preflight.js';
import { checkDrains } from './drain-check.js';
import { buildPlan, currentState, type CurrentState } from './planning.js';
import { HISTORY_LIMIT, restoreTarget } from './restore-target.js';
import { applyWrittenRestore, describeChanges, planWrittenRestore, type WrittenRestorePlan } from './restore-written.js';
import { RequestWatcher, requestOnRecord } from './remote-requests.js';
import { abortLiveDeploy, followAbort, handleDeployFailure, rollbackOutcome, runRollback } from './rollback.js';
import { runByAnotherProcess, type AbortAsked } from './live-abort.js';
import { StepRunner, StoppedAtPause, type RunScope } from './step-runner.js';
import { preflightSteps } from './steps/index.js';
import { unfinishedRollbackReason } from './unfinished-reason.js';
import { contractFailedOutcome, contractGuard, warnPendingContract, executeMigration, initMigrations, schemaVersionOf, settleMigrationInFlight, unfinishedContractGuard, type MigrationAnswer } from './migrations.js';

export type { EngineDeps } from './engine-deps.js';
export { DEFAULT_DRAIN_MS, DEFAULT_HEALTH_TIMEOUT_MS } from './engine-deps.js';
export type { Outcome } from './outcomes.js';
export type { CurrentState } from './planning.js';

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

/**
 * zdd's commands that act on production: deploy, promote, rollback (and abort), retire, plan.
 * Each takes the lock through a LockSession and runs its plan through a StepRunner; planning,
 * failure handling and messages live in their own modules beside this one.
 */
export class Engine {
  constructor(private readonly deps: EngineDeps) {}

  /** Work out the plan deploy would run, changing nothing. */
  async plan(req: Pick<DeployRequest, 'candidate' | 'strategy'>): Promise<{ strategy: Strategy; steps: Step[]; current: CurrentState }> {
    const current = await currentState(this.deps);
    const strategy = this.deps.strategy(req.strategy);
    return { strategy, steps: buildPlan(this.deps, strategy, current, req.candidate), current };
  }

  async deploy(req: DeployRequest): Promise<Outcome> {
    const { deps } = this;
    const strategy = deps.strategy(req.strategy);
    const id = newDeploymentId(deps.clock.now());
    return this.withLock((lock) => lock.acquire(id, req.lockWaitMs, deps.signal), async (lock, runner) => {
      const last = await deps.store.records.latest(deps.config.service);
      if (isNotSettled(last)) return unfinished(last);
      await this.preflight();
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
      const record = this.newRun(id, strategy.name, current.stable, req.candidate, steps);
      if (forced) record.forced = forced;
      if (deps.config.migrations) initMigrations(record, deps, await history);
      await runner.save(record);
      this.announce(record);
      return this.runDeploy(runner, record, strategy, req.rollbackOnFailure, req.stopAtPause);
    });
  }

  /**
   * A run like a deploy (same lock, record, abort, promote, rollback and exit codes) whose plan
   * changes no revision and no traffic (`zdd release` sets a flag, step by step, with bakes).
   * Stable serves throughout; the record names it as both stable and candidate.
   */
  async runInPlace(req: InPlaceRequest): Promise<Outcome> {
    const { deps } = this;
    const strategy = deps.strategy(req.strategy);
    const id = newDeploymentId(deps.clock.now());
    const { steps } = req;
    return this.withLock((lock) => lock.acquire(id, req.lockWaitMs, deps.signal), async (_lock, runner) => {
      const last = await deps.store.records.latest(deps.config.service);
      if (isNotSettled(last)) return unfinished(last);
      await preflightSteps(steps, deps);
      const current = await currentState(deps).catch(() => ({ stable: null, others: [] }) as CurrentState);
      const serving = current.stable?.revision ?? { id: '(no revision)' };
      const record = this.newRun(id, strategy.name, current.stable, serving, steps);
      record.weights = { stable: current.stable ? 100 : 0, candidate: 0 };
      await runner.save(record);
      this.announce(record);
      return this.runDeploy(runner, record, strategy, true);
    });
  }

  /**
   * `zdd promote`: a deploy paused by a live process is told to go on; a deploy whose process is
   * gone is continued here from its last checkpoint.
   */
  async promote(opts: { stopAtPause?: boolean; migrationAnswer?: MigrationAnswer } = {}): Promise<Outcome> {
    const { deps } = this;
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
      return this.rollbackUnfinished(record, { migrationAnswer: opts.migrationAnswer });
    }
    return this.resume(record, opts.stopAtPause, opts.migrationAnswer);
  }

  /** Continue a run whose process is gone from its last checkpoint (promote; rollback of a restore). */
  private resume(record: DeploymentRecord, stopAtPause = false, migrationAnswer?: MigrationAnswer): Promise<Outcome> {
    const { deps } = this;
    return this.withLock((session) => session.takeOver(record.id), async (_lock, runner) => {
      await this.preflight();
      await endLeftoverHook(deps, runner, record, 'resume');
      // A migration cut short is settled by a person before anything goes on (docs/migrations.md).
      await settleMigrationInFlight(deps, record, migrationAnswer, 'promote', () => runner.save(record));
      deps.events.emit({ type: 'info', message: `Continuing ${this.isRestore(record) ? 'rollback' : 'deploy'} ${record.id} from step ${record.stepIndex + 1} of ${record.plan.length} (its process is gone)` });
      const strategy = deps.strategy(record.strategy);
      // The step in flight when the process died is run again (steps are idempotent), except a
      // pause: promoting means going past it. When the router no longer holds what the record
      // says, though, going on would jump past weights never baked: go back and set them again.
      const back = this.isRestore(record) ? undefined : await this.lastShiftIfTrafficMoved(record);
      if (back !== undefined) record.stepIndex = back;
      else if (record.plan[record.stepIndex]?.kind === 'pause') record.stepIndex += 1;
      record.status = 'running';
      record.by = { ...deps.holder, deploymentId: record.id };
      this.announce(record, record.stepIndex);
      const outcome = await this.runDeploy(runner, record, strategy, true, stopAtPause);
      return this.isRestore(record) ? restoreOutcome(record, outcome) : outcome;
    });
  }

  /**
   * `zdd rollback` / `zdd abort`. During a deploy (running, paused or crashed): abort it and put all
   * traffic on stable. After a finished deploy (`abortOnly` false): restore the revision before it.
   */
  async rollback(opts: { abortOnly: boolean; lockWaitMs: number; to?: string; asked?: AbortAsked; force?: boolean; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
    const { deps } = this;
    const record = await deps.store.records.latest(deps.config.service);
    // The command already asked this deploy to abort (live-abort.ts): follow it, whatever it has done since.
    if (opts.asked && record?.id === opts.asked.deploymentId) return followAbort(deps, record, opts.asked.holder, () => this.rollback({ abortOnly: true, lockWaitMs: 0 }));
    if (isNotSettled(record)) {
      if (opts.to !== undefined) {
        throw new UsageError(`The last run (${record.id}, ${record.candidate.id}) did not finish: it is ${record.status}; --to cannot be used until it does.`, 'Run `zdd rollback` without --to to finish it first.');
      }
      const restore = this.isRestore(record);
      const lock = await deps.store.lock.inspect(deps.config.service);
      if (runByAnotherProcess(record, lock)) {
        // Aborting a live restore would put back the revision the operator is leaving.
        if (restore) throw new LockHeldError(deps.config.service, lock.holder, false);
        return abortLiveDeploy(deps, record, lock.holder, () => this.rollback({ abortOnly: true, lockWaitMs: 0 }));
      }
      // An interrupted restore is finished in the direction the operator asked for.
      if (restore && (record.status === 'running' || record.status === 'failed')) return this.resume(record, false, opts.migrationAnswer);
      return this.rollbackUnfinished(record, { ...opts, lock });
    }
    if (opts.abortOnly) return nothingToDo('No deploy is in progress; nothing to abort.');
    const settled = record as DeploymentRecord | null;
    if (opts.to === undefined && settled?.status === 'succeeded' && this.strategyOf(settled)?.undoneByOwnRollback) return this.rollbackOwn(settled, opts.lockWaitMs);
    return this.restore(record, { to: opts.to, lockWaitMs: opts.lockWaitMs, force: opts.force });
  }

  /**
   * `zdd restore`: the router back to the weights the last finished run wrote (changed outside zdd
   * since), one write read back, noted on that record. Revisions and replicas are not touched.
   */
  async restoreWritten(opts: { dryRun?: boolean; lockWaitMs: number }): Promise<Outcome> {
    const { deps } = this;
    await this.preflight();
    const first = await planWrittenRestore(deps);
    const same = (plan: WrittenRestorePlan) => nothingToDo(`The router already holds what deploy ${plan.record.id} wrote (${formatWeights(plan.want)}); nothing was changed.`);
    if (!first.changes.length) return same(first);
    if (opts.dryRun) {
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `zdd restore would set the router to what deploy ${first.record.id} wrote, ${formatWeights(first.want)}: ${describeChanges(first)}. Revisions and instances stay as they are. Nothing was changed (--dry-run).` };
    }
    return this.withLock((lock) => lock.acquire(first.record.id, opts.lockWaitMs, deps.signal), async (lock) => {
      // Again under the lock: a deploy may have finished in between.
      const plan = await planWrittenRestore(deps, true);
      if (!plan.changes.length) return same(plan);
      deps.events.emit({ type: 'info', message: `Restoring what deploy ${plan.record.id} wrote: ${describeChanges(plan)}` });
      return applyWrittenRestore(deps, lock, plan);
    });
  }

  /** Retire revisions whose keep time has passed (blue-green's previous stable). */
  async retireDue(opts: { now?: boolean; lockWaitMs: number }): Promise<Outcome> {
    const { deps } = this;
    const record = await deps.store.records.latest(deps.config.service);
    const kept = keptRevision(record);
    if (!record) return nothingToDo('No kept revision to retire.');
    // Kept by an earlier record and by none since (left by a deploy forced past drift): due now.
    const live = await deps.provider.snapshot();
    const orphans = await orphanedKept(deps, live);
    if (!kept) {
      if (!orphans.length) return nothingToDo('No kept revision to retire.');
      return this.withLock((lock) => lock.acquire(record.id, opts.lockWaitMs, deps.signal), async (lock) => {
        const retired = await retireOrphans(deps, lock, live);
        if (!retired.length) {
          return { result: 'error', exitCode: ExitCode.NeedsPerson, message: `Did not retire ${orphans.join(', ')}: the router gives ${orphans.length === 1 ? 'it' : 'them'} traffic, so stopping would cut production. Nothing was changed.`, hint: 'Run `zdd status` to see what serves production; `zdd restore` puts back the weights zdd wrote.' };
        }
        return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Retired ${retired.join(', ')} (kept by an earlier deploy, by none since).` };
      });
    }
    if (!keptIsDue(deps, kept) && !opts.now) {
      return nothingToDo(`Revision ${kept.revision.id} is kept until ${kept.retireAt} for instant rollback (pass --now to retire it now).`);
    }
    return this.withLock((lock) => lock.acquire(record.id, opts.lockWaitMs, deps.signal), async (lock) => {
      const weight = await retireKept(deps, lock, record);
      if (weight !== true) {
        return {
          result: 'error',
          exitCode: ExitCode.NeedsPerson,
          message: `Did not retire ${kept.revision.id}: the router gives it ${weight}% of production, so stopping it would cut traffic. Nothing was changed.`,
          hint: 'Run `zdd status` to see what serves production; `zdd rollback` puts it back in a known state.',
        };
      }
      const alsoRetired = orphans.length ? await retireOrphans(deps, lock, live) : [];
      const also = alsoRetired.length ? ` Also retired ${alsoRetired.join(', ')} (kept by an earlier deploy, by none since).` : '';
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Retired ${kept.revision.id}.${also}` };
    });
  }

  /**
   * `zdd contract`: run the pending contract migration of the last release, from any machine that
   * shares the state, once the old revision is retired. Recorded on that release's record.
   */
  async contract(opts: { lockWaitMs: number; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
    const { deps } = this;
    const service = deps.config.service;
    const first = await deps.store.records.latest(service);
    if (!first?.migrations?.contract) return nothingToDo(`No contract migration is pending: the last run${first ? ` (${first.id})` : ''} has none. \`zdd history\` shows the schema version of each release.`);
    return this.withLock((lock) => lock.acquire(first.id, opts.lockWaitMs, deps.signal), async (lock, runner) => {
      // Read again under the lock: another machine may have run it meanwhile.
      const record = await deps.store.records.latest(service);
      const contract = record?.migrations?.contract;
      if (!record || record.id !== first.id || !contract) return nothingToDo('The last run changed while zdd took the lock; nothing was changed. Run `zdd contract` again.');
      if (NOT_SETTLED.includes(record.status)) {
        throw new UsageError(`The last deploy (${record.id}, ${record.candidate.id}) is ${record.status}: its contract waits for it to finish.`, 'Finish it with `zdd promote` (or give it up with `zdd rollback`), then run `zdd contract`.');
      }
      if (record.status !== 'succeeded') return nothingToDo(`The last deploy (${record.id}) ended ${record.status}: its contract migration ${contract.id} no longer applies, and was not run.`);
      const save = () => runner.save(record);
      await endLeftoverHook(deps, runner, record, 'rollback');
      await settleMigrationInFlight(deps, record, opts.migrationAnswer, 'contract', save);
      if (contract.state === 'done') return nothingToDo(`Contract migration ${contract.id} already ran${contract.endedAt ? ` (${contract.endedAt})` : ''}; nothing was changed.`);
      // The old revision must be gone: the contract removes what it needs.
      const old = record.stable?.id;
      const kept = keptRevision(record);
      if (kept) throw new UsageError(`Not running contract migration ${contract.id}: the old revision ${kept.revision.id} is still kept (until ${kept.retireAt}) for instant rollback, and it needs what the contract drops. Nothing was changed.`, 'Retire it first (`zdd retire`, or `zdd retire --now`), then run `zdd contract`.');
      const live = await deps.provider.snapshot();
      const stillRuns = old ? live.revisions.find((r) => r.revision.id === old && r.desired > 0) : undefined;
      if (old && (stillRuns || (live.weights[old] ?? 0) > 0)) {
        throw new UsageError(`Not running contract migration ${contract.id}: the old revision ${old} still runs (${live.weights[old] ?? 0}% of traffic) and needs what the contract drops. Nothing was changed.`, '`zdd status` shows what runs; retire it first.');
      }
      await lock.beforeProviderWrite();
      try {
        await executeMigration('contract', { deps, record, signal: deps.signal, save });
      } catch (e) {
        if (e instanceof ZddError && e.code === 'hook-failed') return contractFailedOutcome(record)!;
        throw e;
      }
      const v = record.migrations?.schemaVersion;
      return {
        result: 'succeeded',
        exitCode: ExitCode.Ok,
        message: `Contract migration ${contract.id} ran (recorded on release ${record.id}).${v ? ` The schema is on version ${v} only: \`zdd rollback\` to a revision that needs an older one is refused from now on (--force to do it anyway).` : ''}`,
        record,
      };
    });
  }

  // ---------------------------------------------------------------- runs

  /** Roll back a deploy that did not finish (crashed, failed, or whose rollback was cut short). */
  private rollbackUnfinished(record: DeploymentRecord, opts: { force?: boolean; migrationAnswer?: MigrationAnswer; lock?: LockInfo | null } = {}): Promise<Outcome> {
    const { deps } = this;
    return this.withLock((session) => session.takeOver(record.id), async (_lock, runner) => {
      // Read before this process takes the record over: it names the process that died.
      const reason = unfinishedRollbackReason(record, opts.lock ?? null);
      record.by = { ...deps.holder, deploymentId: record.id };
      await endLeftoverHook(deps, runner, record, 'rollback');
      await settleMigrationInFlight(deps, record, opts.migrationAnswer, 'rollback', () => runner.save(record));
      unfinishedContractGuard(deps, record, !!opts.force);
      deps.events.emit({ type: 'info', message: `Deploy ${record.id} did not finish (${record.status}, ${describeWeights(record)}); rolling it back` });
      const strategy = deps.strategy(record.strategy);
      const result = await runRollback(deps, runner, record, strategy, reason);
      // The strategy says where production is (a release: where its flags are, not where traffic is).
      return rollbackOutcome(deps, record, result, () => ({ result: 'rolled-back', exitCode: ExitCode.Ok, message: wordingOf(strategy).rolledBack(record), record }));
    });
  }

  /** `zdd rollback` after a finished run its strategy undoes with its own rollback plan (a flag release: its flags as before it). */
  private rollbackOwn(record: DeploymentRecord, lockWaitMs: number): Promise<Outcome> {
    const { deps } = this;
    return this.withLock((lock) => lock.acquire(record.id, lockWaitMs, deps.signal), async (_lock, runner) => {
      record.by = { ...deps.holder, deploymentId: record.id };
      const strategy = deps.strategy(record.strategy);
      const result = await runRollback(deps, runner, record, strategy, `manual rollback of a finished ${strategy.name} run`);
      return rollbackOutcome(deps, record, result, () => ({ result: 'rolled-back', exitCode: ExitCode.Ok, message: wordingOf(strategy).rolledBack(record), record }));
    });
  }

  /**
   * `zdd rollback` after a finished deploy: the revision before the serving one (or `to`) back on
   * 100%, planned by the restore strategy. It never walks back further than one step on its own.
   */
  private restore(last: DeploymentRecord | null, opts: { to?: string; lockWaitMs: number; force?: boolean }): Promise<Outcome> {
    const { deps } = this;
    const id = newDeploymentId(deps.clock.now());
    return this.withLock((lock) => lock.acquire(id, opts.lockWaitMs, deps.signal), async (_lock, runner) => {
      await this.preflight();
      const current = await currentState(deps);
      const history = await deps.store.records.history(deps.config.service, HISTORY_LIMIT);
      const chosen = restoreTarget({ service: deps.config.service, current, history, to: opts.to, isRestore: (r) => this.isRestore(r) });
      if (!('target' in chosen) || !current.stable) return chosen as Outcome;
      const { target } = chosen;
      contractGuard(deps, history, target.id, !!opts.force);
      // Back to 100% on the revision that has the most weight already (drift): it is the one running.
      const stable = chosen.stable ?? current.stable;
      const running = chosen.stable ? current.stable : current.others.find((o) => o.revision.id === target.id && o.replicas > 0);
      const replicas = running?.replicas ?? last?.stableReplicasBefore ?? deps.config.replicas ?? current.stable.replicas;
      const strategy = deps.restoreStrategy;
      const candidate = running?.revision ?? target;
      const steps = strategy.plan({
        service: deps.config.service,
        stable,
        candidate,
        replicas,
        options: {},
        capabilities: deps.provider.capabilities,
        hooks: configuredHookPoints(deps.config),
        gates: Object.keys(deps.config.gates ?? {}),
        drainMs: drainMs(deps),
      }).steps;
      const record = this.newRun(id, strategy.name, stable, candidate, steps, running?.replicas ?? 0, 'restore');
      initMigrations(record, { config: { ...deps.config, migrations: undefined } }, history, schemaVersionOf(history, candidate.id));
      await runner.save(record);
      this.announce(record);
      return restoreOutcome(record, await this.runDeploy(runner, record, strategy, true));
    });
  }

  /** Run a deploy's plan from its checkpoint; on failure, signal, abort or lost lock, hand over to rollback.ts. */
  private async runDeploy(runner: StepRunner, record: DeploymentRecord, strategy: Strategy, rollbackOnFailure: boolean, stopAtPause = false): Promise<Outcome> {
    const { deps } = this;
    const watcher = new RequestWatcher(deps.store.records, record.id, deps.config.service, deps.holder);
    watcher.onForeignWrite(() => void runner.lock.check());
    const run = new AbortController();
    const lockSignal = runner.lock.signal;
    const stop = (reason: unknown) => {
      if (!run.signal.aborted) run.abort(reason);
    };
    const onSignal = () => stop(deps.signal.reason);
    const onLockLost = () => stop(lockSignal.reason);
    if (deps.signal.aborted) onSignal();
    if (lockSignal.aborted) onLockLost();
    deps.signal.addEventListener('abort', onSignal, { once: true });
    lockSignal.addEventListener('abort', onLockLost, { once: true });
    watcher.onAbort((by) => stop(new InterruptedError(by ?? 'zdd abort')));
    watcher.start();
    const scope: RunScope = { record, phase: 'deploy', signal: run.signal, watcher, stopAtPause };
    try {
      await runner.runSteps(scope, record);
      record.status = 'succeeded';
      record.finishedAt = nowIso(deps);
      await runner.save(record);
      return contractFailedOutcome(record) ?? deploySucceeded(record, wordingOf(strategy));
    } catch (e) {
      if (e instanceof StoppedAtPause && !lockSignal.aborted) {
        // Already saved as paused; this write only lets the record carry what was said since (the pause itself).
        await runner.save(record).catch(() => undefined);
        return stoppedAtPause(record);
      }
      // A lost lock may surface as whatever the aborted step threw: the lock's reason decides.
      return await handleDeployFailure(deps, runner, record, strategy, lockSignal.aborted ? lockSignal.reason : e, rollbackOnFailure);
    } finally {
      watcher.stop();
      deps.signal.removeEventListener('abort', onSignal);
      lockSignal.removeEventListener('abort', onLockLost);
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Take the lock (`take`), run `fn` with a step runner bound to it, always release it. */
  private async withLock(take: (lock: LockSession) => Promise<void>, fn: (lock: LockSession, runner: StepRunner) => Promise<Outcome>): Promise<Outcome> {
    const { deps } = this;
    const lock = new LockSession({ service: deps.config.service, lock: deps.store.lock, clock: deps.clock, events: deps.events, holder: deps.holder, heartbeatMs: deps.heartbeatMs });
    await take(lock);
    try {
      return await fn(lock, new StepRunner(deps, lock));
    } catch (e) {
      // Exit 5 promises that nothing changed; after a provider write that is no longer true.
      if (e instanceof ProviderError && lock.providerWrites > 0) {
        throw new ZddError('provider-after-change', `${e.message}\n(zdd had already changed production in this command: ${lock.providerWrites} provider write${lock.providerWrites === 1 ? '' : 's'}.)`, {
          exitCode: ExitCode.NeedsPerson,
          hint: `${e.hint ? `${e.hint} ` : ''}Run \`zdd status\` to see where production is, then \`zdd rollback\` or run the command again.`,
          cause: e,
        });
      }
      throw e;
    } finally {
      const released = await lock.release();
      if (!released.ok) deps.events.emit({ type: 'warn', message: `Could not release the lock of ${deps.config.service} in ${deps.store.location}: ${released.error}; it expires by itself, or run \`zdd lock release --force\`` });
    }
  }

  /** A record's strategy, if this config still knows it. */
  private strategyOf(record: DeploymentRecord): Strategy | undefined {
    try {
      return this.deps.strategy(record.strategy);
    } catch {
      return undefined;
    }
  }

  /** Whether a record is a restore run (its strategy is the restore strategy, under any name it had). */
  private isRestore(record: DeploymentRecord): boolean {
    if (record.kind) return record.kind === 'restore';
    try {
      return this.deps.strategy(record.strategy) === this.deps.restoreStrategy;
    } catch {
      return false;
    }
  }

  private newRun(id: string, strategy: string, stable: CurrentState['stable'], candidate: RevisionSpec, plan: Step[], candidateReplicas?: number, kind?: 'restore'): DeploymentRecord {
    const { deps } = this;
    return newRecord({
      id,
      service: deps.config.service,
      env: deps.env,
      strategy,
      stable,
      candidate,
      plan,
      by: { ...deps.holder, deploymentId: id },
      now: deps.clock.now(),
      candidateReplicas,
      kind,
    });
  }

  /**
   * A deploy resumed after its process died: if the router's weights are no longer the ones its
   * record last verified (the local router's dead-man's switch puts stable back when a deploy dies),
   * the index of the last traffic step at or before the checkpoint, to run again; else undefined.
   * A manual pause is left to promote as it is: the step after it sets the weights anyway.
   */
  private async lastShiftIfTrafficMoved(record: DeploymentRecord): Promise<number | undefined> {
    const step = record.plan[record.stepIndex];
    if (!step || (step.kind === 'pause' && step.durationMs === undefined)) return undefined;
    const live = await this.deps.provider.router.getWeights().catch(() => undefined);
    if (!live) return undefined; // the step itself will meet the provider's error
    const want = writtenWeights(record);
    if (differingRevisions(live, want).length === 0) return undefined;
    let back = record.stepIndex;
    while (back >= 0 && record.plan[back].kind !== 'shiftTraffic') back--;
    // The step in flight sets the weights itself when run again (a shift cut short).
    if (back < 0 || back === record.stepIndex) return undefined;
    const show = (w: Record<string, number>) => formatWeights(nonZero(w), 'none');
    this.deps.events.emit({
      type: 'warn',
      message: `The router holds ${show(live)}, not the ${show(want)} deploy ${record.id} last verified: it changed after that deploy's process died (the local router's dead-man's switch puts stable back). Going back to step ${back + 1} (${describeStep(record.plan[back])}) to set the weights again and bake them.`,
    });
    return back;
  }

  private announce(record: DeploymentRecord, resumedAt?: number): void {
    this.deps.events.emit({
      type: 'deploy.start',
      service: record.service,
      strategy: record.strategy,
      deploymentId: record.id,
      stable: record.stable,
      candidate: record.candidate,
      steps: record.plan,
      ...(resumedAt !== undefined ? { resumedAt } : {}),
      ...(record.kind ? { kind: record.kind } : {}),
    });
  }

  private async preflight(): Promise<void> {
    const { provider } = this.deps;
    try {
      await provider.preflight?.();
    } catch (e) {
      if (e instanceof ZddError) throw e;
      throw new ProviderError(`Provider "${provider.name}" is not ready: ${errorMessage(e)}`, { cause: e });
    }
  }
}
