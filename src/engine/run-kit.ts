import { InterruptedError, ProviderError, ZddError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { Step } from '../core/plan.js';
import type { RevisionSpec } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';
import { newRecord } from './deployment-record.js';
import { nowIso, type EngineDeps } from './engine-deps.js';
import { LockSession } from './lock-session.js';
import { deploySucceeded, stoppedAtPause, wordingOf, type Outcome } from './outcomes.js';
import type { CurrentState } from './planning.js';
import { RequestWatcher } from './remote-requests.js';
import { handleDeployFailure } from './rollback.js';
import { StepRunner, StoppedAtPause, type RunScope } from './step-runner.js';
import { contractFailedOutcome } from './migrations.js';

/** What every command of the engine runs through: the lock, the step runner, a run's record and its outcome. */
export class RunKit {
  constructor(readonly deps: EngineDeps) {}

  /** Take the lock (`take`), run `fn` with a step runner bound to it, always release it. */
  async withLock(take: (lock: LockSession) => Promise<void>, fn: (lock: LockSession, runner: StepRunner) => Promise<Outcome>): Promise<Outcome> {
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

  /** Run a deploy's plan from its checkpoint; on failure, signal, abort or lost lock, hand over to rollback.ts. */
  async runDeploy(runner: StepRunner, record: DeploymentRecord, strategy: Strategy, rollbackOnFailure: boolean, stopAtPause = false): Promise<Outcome> {
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

  /** A record's strategy, if this config still knows it. */
  strategyOf(record: DeploymentRecord): Strategy | undefined {
    try {
      return this.deps.strategy(record.strategy);
    } catch {
      return undefined;
    }
  }

  /** Whether a record is a restore run (its strategy is the restore strategy, under any name it had). */
  isRestore(record: DeploymentRecord): boolean {
    if (record.kind) return record.kind === 'restore';
    try {
      return this.deps.strategy(record.strategy) === this.deps.restoreStrategy;
    } catch {
      return false;
    }
  }

  newRun(id: string, strategy: string, stable: CurrentState['stable'], candidate: RevisionSpec, plan: Step[], candidateReplicas?: number, kind?: 'restore'): DeploymentRecord {
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

  announce(record: DeploymentRecord, resumedAt?: number): void {
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

  async preflight(): Promise<void> {
    const { provider } = this.deps;
    try {
      await provider.preflight?.();
    } catch (e) {
      if (e instanceof ZddError) throw e;
      throw new ProviderError(`Provider "${provider.name}" is not ready: ${errorMessage(e)}`, { cause: e });
    }
  }
}
