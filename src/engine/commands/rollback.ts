// `zdd rollback` / `zdd abort`: roll back a run that did not finish, undo a finished one, or restore the revision before it.
import { LockHeldError, UsageError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import type { DeploymentRecord, LockInfo } from '../../core/state.js';
import { configuredHookPoints } from '../../hooks/hook-runner.js';
import { describeWeights, isNotSettled, newDeploymentId } from '../deployment-record.js';
import { drainMs } from '../engine-deps.js';
import { endLeftoverHook } from '../left-over-hook.js';
import { nothingToDo, restoreOutcome, wordingOf, type Outcome } from '../outcomes.js';
import { currentState } from '../planning.js';
import { HISTORY_LIMIT, restoreTarget } from '../restore-target.js';
import { abortLiveDeploy, followAbort, rollbackOutcome, runRollback } from '../rollback.js';
import { runByAnotherProcess, type AbortAsked } from '../live-abort.js';
import { unfinishedRollbackReason } from '../unfinished-reason.js';
import { contractGuard, initMigrations, schemaVersionOf, settleMigrationInFlight, unfinishedContractGuard, type MigrationAnswer } from '../migrations.js';
import type { RunKit } from '../run-kit.js';
import { resume } from './promote.js';

/**
 * `zdd rollback` / `zdd abort`. During a deploy (running, paused or crashed): abort it and put all
 * traffic on stable. After a finished deploy (`abortOnly` false): restore the revision before it.
 */
export async function rollback(kit: RunKit, opts: { abortOnly: boolean; lockWaitMs: number; to?: string; asked?: AbortAsked; force?: boolean; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
  const { deps } = kit;
  const record = await deps.store.records.latest(deps.config.service);
  // The command already asked this deploy to abort (live-abort.ts): follow it, whatever it has done since.
  if (opts.asked && record?.id === opts.asked.deploymentId) return followAbort(deps, record, opts.asked.holder, () => rollback(kit, { abortOnly: true, lockWaitMs: 0 }));
  if (isNotSettled(record)) {
    if (opts.to !== undefined) {
      throw new UsageError(`The last run (${record.id}, ${record.candidate.id}) did not finish: it is ${record.status}; --to cannot be used until it does.`, 'Run `zdd rollback` without --to to finish it first.');
    }
    const isRestore = kit.isRestore(record);
    const lock = await deps.store.lock.inspect(deps.config.service);
    if (runByAnotherProcess(record, lock)) {
      // Aborting a live restore would put back the revision the operator is leaving.
      if (isRestore) throw new LockHeldError(deps.config.service, lock.holder, false);
      return abortLiveDeploy(deps, record, lock.holder, () => rollback(kit, { abortOnly: true, lockWaitMs: 0 }));
    }
    // An interrupted restore is finished in the direction the operator asked for.
    if (isRestore && (record.status === 'running' || record.status === 'failed')) return resume(kit, record, false, opts.migrationAnswer);
    return rollbackUnfinished(kit, record, { ...opts, lock });
  }
  if (opts.abortOnly) return nothingToDo('No deploy is in progress; nothing to abort.');
  const settled = record as DeploymentRecord | null;
  if (opts.to === undefined && settled?.status === 'succeeded' && kit.strategyOf(settled)?.undoneByOwnRollback) return rollbackOwn(kit, settled, opts.lockWaitMs);
  return restore(kit, record, { to: opts.to, lockWaitMs: opts.lockWaitMs, force: opts.force });
}

/** Roll back a deploy that did not finish (crashed, failed, or whose rollback was cut short). */
export function rollbackUnfinished(kit: RunKit, record: DeploymentRecord, opts: { force?: boolean; migrationAnswer?: MigrationAnswer; lock?: LockInfo | null } = {}): Promise<Outcome> {
  const { deps } = kit;
  return kit.withLock((session) => session.takeOver(record.id), async (_lock, runner) => {
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
export function rollbackOwn(kit: RunKit, record: DeploymentRecord, lockWaitMs: number): Promise<Outcome> {
  const { deps } = kit;
  return kit.withLock((lock) => lock.acquire(record.id, lockWaitMs, deps.signal), async (_lock, runner) => {
    record.by = { ...deps.holder, deploymentId: record.id };
    const strategy = deps.strategy(record.strategy);
    const result = await runRollback(deps, runner, record, strategy, `manual rollback of a finished ${wordingOf(strategy).run}`);
    return rollbackOutcome(deps, record, result, () => ({ result: 'rolled-back', exitCode: ExitCode.Ok, message: wordingOf(strategy).rolledBack(record), record }));
  });
}

/**
 * `zdd rollback` after a finished deploy: the revision before the serving one (or `to`) back on
 * 100%, planned by the restore strategy. It never walks back further than one step on its own.
 */
export function restore(kit: RunKit, last: DeploymentRecord | null, opts: { to?: string; lockWaitMs: number; force?: boolean }): Promise<Outcome> {
  const { deps } = kit;
  const id = newDeploymentId(deps.clock.now());
  return kit.withLock((lock) => lock.acquire(id, opts.lockWaitMs, deps.signal), async (_lock, runner) => {
    await kit.preflight();
    const current = await currentState(deps);
    const history = await deps.store.records.history(deps.config.service, HISTORY_LIMIT);
    const chosen = restoreTarget({ service: deps.config.service, current, history, to: opts.to, isRestore: (r) => kit.isRestore(r) });
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
    const record = kit.newRun(id, strategy.name, stable, candidate, steps, running?.replicas ?? 0, 'restore');
    initMigrations(record, { config: { ...deps.config, migrations: undefined } }, history, schemaVersionOf(history, candidate.id));
    await runner.save(record);
    kit.announce(record);
    return restoreOutcome(record, await kit.runDeploy(runner, record, strategy, true));
  });
}
