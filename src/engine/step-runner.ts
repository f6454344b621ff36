import type { CheckContext } from '../core/checks.js';
import { CheckFailedError, LockLostError, ZddError, errorMessage } from '../core/errors.js';
import { describeStep, type Role, type Step } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';
import { addVerdict, describeRunStep } from './deployment-record.js';
import { healthTimeoutMs, nowIso, type EngineDeps } from './engine-deps.js';
import { baseEnv } from './hook-env.js';
import type { LockSession } from './lock-session.js';
import { carryOverRequests, type RequestWatcher } from './remote-requests.js';
import { handlerOf, revisionOf, watchBake, type StepContext } from './steps/index.js';
import type { CheckResultOf } from './steps/step-kind.js';

export { StoppedAtPause } from './steps/index.js';

const ROLLBACK_STEP_ATTEMPTS = 3;

/** One run of a plan (a deploy, or its rollback): what every step acts on besides the step itself. */
export interface RunScope {
  record: DeploymentRecord;
  phase: 'deploy' | 'rollback';
  /** Aborts the run (signal, `zdd abort`, lost lock); a rollback's never aborts. */
  signal: AbortSignal;
  /** Requests from other processes (promote at a pause); a rollback has none. */
  watcher?: RequestWatcher;
  /** A rollback goes on when a checkpoint cannot be written; the first such error is kept here. */
  unsaved?: unknown;
  /**
   * A rollback goes on past a step whose kind says so (a flag that cannot be put back: traffic to
   * stable still helps), then ends as failed; the first such step is kept here.
   */
  tolerated?: { error: unknown; index: number };
  /** --until-pause: at a manual pause, checkpoint and end the run (StoppedAtPause) instead of waiting. */
  stopAtPause?: boolean;
}

/** The step cursor of a run: the record itself for a deploy, `record.rollback` for its rollback. */
export interface StepCursor {
  plan: Step[];
  stepIndex: number;
}

/**
 * Runs plans: checkpoint → act → verify → gate → checkpoint, for a deploy and its rollback alike.
 * Each step is acted on by its kind's handler (steps/index.ts). Every provider write and every
 * checkpoint first asks the lock session whether the lock is ours.
 */
export class StepRunner {
  /** What step kinds keep across this runner's steps (StepContext.memo). */
  private readonly memos = new Map<Step['kind'], unknown>();

  constructor(private readonly deps: EngineDeps, readonly lock: LockSession) {}

  /** Checkpoint: carry over requests another process wrote (promote/abort) and save atomically. */
  async save(record: DeploymentRecord): Promise<void> {
    await this.lock.assertHeld();
    record.updatedAt = nowIso(this.deps);
    const { records } = this.deps.store;
    const [onDisk, requests] = await Promise.all([records.latest(record.service).catch(() => null), records.requests(record.service, record.id).catch(() => ({}))]);
    carryOverRequests(record, onDisk, requests);
    try {
      await this.deps.store.records.save(record);
    } catch (e) {
      if (e instanceof ZddError) throw e;
      throw new ZddError('state-store', `Could not write the deployment record to ${this.deps.store.location}: ${errorMessage(e)}`, {
        hint: 'Check the state store (disk space, permissions, credentials); `zdd status` reads the live traffic from the provider.',
        cause: e,
      });
    }
  }

  /**
   * A checkpoint during a rollback: the way back to stable must not wait for the state store. A
   * failure is remembered on the scope (the run saves again with retries at the end) and warned.
   */
  async checkpoint(scope: RunScope): Promise<void> {
    if (scope.phase === 'deploy') return this.save(scope.record);
    try {
      await this.save(scope.record);
    } catch (e) {
      if (e instanceof LockLostError) throw e;
      if (scope.unsaved === undefined) this.deps.events.emit({ type: 'warn', message: `Could not write the deployment record to ${this.deps.store.location}: ${errorMessage(e)}; the rollback goes on` });
      scope.unsaved ??= e;
    }
  }

  /** The index moves only after a step is done; the step in flight is recorded before it starts. */
  async runSteps(scope: RunScope, cursor: StepCursor): Promise<void> {
    const { events, clock } = this.deps;
    const { record, phase } = scope;
    const total = cursor.plan.length;
    while (cursor.stepIndex < total) {
      const index = cursor.stepIndex;
      const step = cursor.plan[index];
      if (scope.signal.aborted) throw scope.signal.reason;
      record.inFlight = { index, phase, startedAt: nowIso(this.deps) };
      await this.checkpoint(scope);
      const started = clock.now();
      events.emit({ type: 'step.start', index, total, step, description: describeRunStep(record, step), phase });
      if (phase === 'rollback') await this.executeWithRetry(step, scope, index);
      else await this.execute(step, scope);
      record.inFlight = undefined;
      cursor.stepIndex = index + 1;
      await this.checkpoint(scope);
      events.emit({ type: 'step.done', index, total, step, durationMs: clock.now() - started, phase });
    }
  }

  /** Rollback steps are retried: a passing network blip must not leave production half-switched. */
  private async executeWithRetry(step: Step, scope: RunScope, index: number): Promise<void> {
    const tolerance = handlerOf(step).inRollback;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.execute(step, scope);
        return;
      } catch (e) {
        if (e instanceof LockLostError) throw e;
        if (tolerance && attempt >= tolerance.attempts) {
          this.deps.events.emit({ type: 'warn', message: tolerance.warning(e) });
          if (tolerance.failsRollback) scope.tolerated ??= { error: e, index };
          return;
        }
        if (attempt >= ROLLBACK_STEP_ATTEMPTS || e instanceof CheckFailedError) throw e;
        this.deps.events.emit({ type: 'warn', message: `Rollback step "${describeStep(step)}" failed (attempt ${attempt}/${ROLLBACK_STEP_ATTEMPTS}): ${errorMessage(e)}; retrying` });
        await this.deps.clock.sleep(1000 * attempt);
      }
    }
  }

  /** One step, by its kind's handler. */
  private execute(step: Step, scope: RunScope): Promise<void> {
    return handlerOf(step).run(step, this.context(scope));
  }

  /** What a handler acts through during this run. */
  private context(scope: RunScope): StepContext {
    const { deps, lock } = this;
    const { record } = scope;
    return {
      deps,
      lock,
      scope,
      checkpoint: () => this.checkpoint(scope),
      save: () => this.save(record),
      untilHealthy: async (role, revisionId) => {
        record.healthy = record.healthy.filter((r) => r !== role);
        await this.checkpoint(scope);
        await deps.provider.platform.waitHealthy(revisionId, { timeoutMs: healthTimeoutMs(deps), signal: scope.signal });
        record.healthy.push(role);
      },
      checkContext: (signal) => this.checkContext(record, signal),
      onCheckResult: (result: CheckResultOf) => {
        addVerdict(record, result);
        deps.events.emit({ type: 'check', result });
      },
      watchBake: (signal) => watchBake(record, deps, signal),
      memo: <T>(kind: Step['kind'], init: () => T): T => {
        if (!this.memos.has(kind)) this.memos.set(kind, init());
        return this.memos.get(kind) as T;
      },
    };
  }

  private checkContext(record: DeploymentRecord, signal: AbortSignal): CheckContext {
    const { deps } = this;
    return {
      service: deps.config.service,
      candidate: record.candidate,
      stable: record.stable,
      endpoints: (role: Role) => deps.provider.platform.endpoints(revisionOf(record, role).id),
      router: deps.provider.router,
      clock: deps.clock,
      signal,
      env: baseEnv(deps, record),
      cwd: deps.configDir,
    };
  }
}
