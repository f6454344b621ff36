import { InterruptedError, LockLostError, ZddError, errorMessage, type LockHolderInfo } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { describeStep } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';
import { configuredHookPoints } from '../hooks/hook-runner.js';
import { describeWeights } from './deployment-record.js';
import { nowIso, type EngineDeps } from './engine-deps.js';
import { lockLost, rollbackFailed, rollbackUnrecorded, rolledBack, stoppedWithoutRollback, wordingOf, type Outcome } from './outcomes.js';
import { requestOnRecord } from './remote-requests.js';
import type { RunScope, StepRunner } from './step-runner.js';

const RECORD_SAVE_ATTEMPTS = 4;

/** How outcomes speak of a record's run: its strategy's wording (a deploy's when the strategy is unknown here). */
export function recordWording(deps: Pick<EngineDeps, 'strategy'>, r: DeploymentRecord) {
  try {
    return wordingOf(deps.strategy(r.strategy));
  } catch {
    return wordingOf(undefined);
  }
}

/** How a rollback run ended. */
export type RollbackResult =
  | { kind: 'done' }
  | { kind: 'failed' }
  /** Another process holds the lock now. */
  | { kind: 'lost'; error: LockLostError }
  /** Production is back on stable, but the record could not be written: a person must know. */
  | { kind: 'unrecorded'; error: unknown };

/**
 * A deploy step failed (or a signal or `zdd abort` arrived): record why, then roll back with the
 * strategy's plan — unless the lock is lost (the new holder owns production) or the user said
 * --no-rollback.
 */
export async function handleDeployFailure(deps: EngineDeps, runner: StepRunner, record: DeploymentRecord, strategy: Strategy, e: unknown, rollbackOnFailure: boolean): Promise<Outcome> {
  // Stryker disable next-line ConditionalExpression: without it the rollback's first checkpoint throws the same LockLostError, and runRollback turns it into the same outcome before any step
  if (e instanceof LockLostError) return lockLost(record, e, await takenOverBy(deps, record));
  const interrupted = e instanceof InterruptedError;
  const reason = interrupted ? `interrupted by ${(e as InterruptedError).signal}` : errorMessage(e);
  const step = record.inFlight?.index ?? record.stepIndex;
  record.error = {
    message: reason,
    code: e instanceof ZddError ? e.code : 'internal',
    step,
    hint: e instanceof ZddError ? e.hint : undefined,
  };
  if (!(e instanceof ZddError)) deps.events.emit({ type: 'warn', message: `Unexpected error: ${e instanceof Error && e.stack ? e.stack : String(e)}` });
  const stepText = record.plan[step] ? ` at step ${step + 1}/${record.plan.length} (${describeStep(record.plan[step])})` : '';
  if (!rollbackOnFailure) {
    record.status = 'failed';
    record.finishedAt = nowIso(deps);
    await runner.save(record);
    return stoppedWithoutRollback(record, reason, stepText);
  }
  return rollbackOutcome(deps, record, await runRollback(deps, runner, record, strategy, `${reason}${stepText}`), () => rolledBack(record, reason, stepText, interrupted, wordingOf(strategy)));
}

/** The outcome of a rollback run; `done` says what success means for the command that ran it. */
export async function rollbackOutcome(deps: EngineDeps, record: DeploymentRecord, result: RollbackResult, done: () => Outcome): Promise<Outcome> {
  switch (result.kind) {
    case 'done':
      return done();
    case 'failed':
      return rollbackFailed(record);
    case 'lost':
      return lockLost(record, result.error, await takenOverBy(deps, record));
    case 'unrecorded':
      return rollbackUnrecorded(record, deps.store.location, result.error);
  }
}

/** Who wrote the record since this process did (the command that took the deploy over), if anyone. */
async function takenOverBy(deps: EngineDeps, record: DeploymentRecord): Promise<{ record: DeploymentRecord } | null> {
  // Stryker disable next-line ArrowFunction: undefined or null, the next line reads either as "no record"
  const onDisk = await deps.store.records.latest(record.service).catch(() => null);
  if (!onDisk) return null;
  const foreign = onDisk.id !== record.id || onDisk.by.pid !== deps.holder.pid || onDisk.by.host !== deps.holder.host;
  return foreign ? { record: onDisk } : null;
}

/**
 * Runs the strategy's rollback plan (resuming it when the record already has one), traffic first.
 * A state store that fails does not stop it: checkpoints are skipped and the final record retried.
 */
export async function runRollback(deps: EngineDeps, runner: StepRunner, record: DeploymentRecord, strategy: Strategy, reason: string): Promise<RollbackResult> {
  if (!record.rollback) {
    const plan = strategy.rollback({ record, hooks: configuredHookPoints(deps.config), stableReplicas: record.stableReplicasBefore || (record.stable ? 1 : 0) });
    record.rollback = { reason, startedAt: nowIso(deps), plan: plan.steps, stepIndex: 0 };
  }
  record.status = 'rolling-back';
  // Rollback must not be cut short by the signal that caused it; later signals only warn.
  const scope: RunScope = { record, phase: 'rollback', signal: new AbortController().signal };
  const onSignal = () => deps.events.emit({ type: 'warn', message: 'Rollback in progress: it will finish before zdd exits.' });
  deps.signal.addEventListener('abort', onSignal);
  try {
    await runner.checkpoint(scope);
    deps.events.emit({ type: 'rollback.start', reason });
    await runner.runSteps(scope, record.rollback);
    if (scope.tolerated) {
      // The next `zdd rollback` starts again at that step (a flag); the steps after it are idempotent.
      record.rollback.stepIndex = scope.tolerated.index;
      throw scope.tolerated.error;
    }
    record.status = 'rolled-back';
    record.finishedAt = nowIso(deps);
    deps.events.emit({ type: 'rollback.done', ok: true, message: `Production on stable ${record.stable?.id ?? '(none)'}` });
    const unsaved = await saveWithRetries(deps, runner, record, scope);
    return unsaved === undefined ? { kind: 'done' } : { kind: 'unrecorded', error: unsaved };
  } catch (e) {
    if (e instanceof LockLostError) return { kind: 'lost', error: e };
    record.status = 'rollback-failed';
    record.error = { ...record.error, message: `${record.error?.message ?? reason}; rollback failed: ${errorMessage(e)}`, code: record.error?.code ?? 'rollback' };
    try {
      await runner.save(record);
    } catch {
      // The state store may be what failed; the message still says what to do.
    }
    deps.events.emit({ type: 'rollback.done', ok: false, message: errorMessage(e) });
    return { kind: 'failed' };
  } finally {
    deps.signal.removeEventListener('abort', onSignal);
  }
}

/**
 * The final record of a rollback, written with retries (the store may be what failed). Returns the
 * last error when it still cannot be written, undefined once it is.
 */
async function saveWithRetries(deps: EngineDeps, runner: StepRunner, record: DeploymentRecord, scope: RunScope): Promise<unknown> {
  let last: unknown = scope.unsaved;
  for (let attempt = 0; attempt <= RECORD_SAVE_ATTEMPTS; attempt++) {
    if (attempt > 0) await deps.clock.sleep(250 * 2 ** (attempt - 1));
    try {
      await runner.save(record);
      if (last !== undefined) deps.events.emit({ type: 'info', message: `Deployment record written to ${deps.store.location} after ${attempt} retr${attempt === 1 ? 'y' : 'ies'}` });
      return undefined;
    } catch (e) {
      if (e instanceof LockLostError) throw e;
      last = e;
    }
  }
  return last;
}

/** A live process runs the deploy: ask it to abort and follow its record until it has rolled back. */
export async function abortLiveDeploy(deps: EngineDeps, record: DeploymentRecord, holder: LockHolderInfo, takeOverIfGone: () => Promise<Outcome>): Promise<Outcome> {
  // Through the request channel: the holder's record is never rewritten here (it notes the request at its next checkpoint).
  await requestOnRecord(deps.store.records, deps.config.service, record.id, 'abort', deps.clock);
  return followAbort(deps, record, holder, takeOverIfGone);
}

/** The deploy was asked to abort: follow its record until it has rolled back (or finish the rollback if its process is gone). */
export async function followAbort(deps: EngineDeps, record: DeploymentRecord, holder: LockHolderInfo, takeOverIfGone: () => Promise<Outcome>): Promise<Outcome> {
  const { records } = deps.store;
  const service = deps.config.service;
  deps.events.emit({ type: 'info', message: `Asked deploy ${record.id} (pid ${holder.pid} on ${holder.host}) to abort; waiting for its rollback` });
  // Deadline on the injected clock; the poll itself waits in real time (a person's command, not a bake).
  const deadline = deps.clock.now() + 10 * 60_000;
  for (;;) {
    const r = await records.latest(service);
    if (!r || r.id !== record.id) break;
    const wording = recordWording(deps, r);
    if (r.status === 'rolled-back') return { result: 'rolled-back', exitCode: ExitCode.Ok, message: wording.aborted(r), record: r };
    if (r.status === 'rollback-failed') return rollbackFailed(r);
    if (r.status === 'succeeded') return { result: 'succeeded', exitCode: ExitCode.Ok, message: `${wording.noun} ${record.id} finished before the abort arrived; run \`zdd rollback\` again to restore ${wording.rollbackRestores(r)}.` };
    if (r.status === 'failed') return { result: 'failed', exitCode: ExitCode.NeedsPerson, message: `${wording.noun} ${record.id} stopped without rollback: ${describeWeights(r)}` };
    const lock = await deps.store.lock.inspect(service);
    // The holder died or let go without finishing: finish the rollback here.
    if (!lock || lock.stale) return takeOverIfGone();
    if (deps.clock.now() > deadline) {
      return { result: 'error', exitCode: ExitCode.NeedsPerson, message: `${wording.noun} ${record.id} did not acknowledge the abort within 10 minutes (${describeWeights(r)})`, hint: `Check process ${holder.pid} on ${holder.host}.` };
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  return { result: 'error', exitCode: ExitCode.NeedsPerson, message: 'The deployment record changed while waiting for the abort; run `zdd status`.' };
}
