import { runGate } from '../checks/gate-runner.js';
import type { ZddConfig } from '../config/schema.js';
import type { CheckContext } from '../core/checks.js';
import type { Clock } from '../core/clock.js';
import {
  CheckFailedError,
  ConfigError,
  InterruptedError,
  LockHeldError,
  ProviderError,
  TrafficMismatchError,
  ZddError,
  errorMessage,
  type LockHolderInfo,
} from '../core/errors.js';
import type { DoneResult, EventSink } from '../core/events.js';
import { ExitCode, type ExitCodeValue } from '../core/exit-codes.js';
import { describeStep, formatDuration, type Role, type RoleWeights, type Step } from '../core/plan.js';
import type { Provider, RevisionSpec, WeightMap } from '../core/provider.js';
import type { DeploymentRecord, LockLease, StateStore } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';
import { configuredHookPoints, runHooks } from '../hooks/hook-runner.js';
import { addVerdict, describeWeights, isNotSettled, newDeploymentId, newRecord } from './deployment-record.js';
import { RequestWatcher } from './request-watcher.js';

export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
export const DEFAULT_DRAIN_MS = 5_000;
const ROLLBACK_STEP_ATTEMPTS = 3;
const HEARTBEAT_MS = 15_000;

export interface EngineDeps {
  config: ZddConfig;
  configDir: string;
  env?: string;
  provider: Provider;
  store: StateStore;
  clock: Clock;
  events: EventSink;
  /** Resolves a strategy by name (built-ins and config plugins). */
  strategy(name: string): Strategy;
  /** Who runs this command (lock holder). */
  holder: LockHolderInfo;
  /** Aborted on SIGINT/SIGTERM with an InterruptedError as reason. */
  signal: AbortSignal;
}

/** How a command ended: what the CLI prints last and exits with. */
export interface Outcome {
  result: DoneResult;
  exitCode: ExitCodeValue;
  message: string;
  hint?: string;
  record?: DeploymentRecord;
}

export interface DeployRequest {
  candidate: RevisionSpec;
  strategy: string;
  /** false = --no-rollback: stop where the failure happened and say so (exit 4). */
  rollbackOnFailure: boolean;
  lockWaitMs: number;
  /** Plan only: return the plan without changing anything. */
  dryRun?: boolean;
}

/** What the current production state is, as the provider reports it. */
export interface CurrentState {
  stable: { revision: RevisionSpec; replicas: number } | null;
  /** Revisions running besides stable (kept previous, leftovers). */
  others: { revision: RevisionSpec; replicas: number; weight: number }[];
}

/**
 * Executes plans: checkpoint, act, verify, gate, checkpoint. On a failure or a signal it asks the
 * strategy for the rollback plan and runs it, traffic first. The only place that sequences effects.
 */
export class Engine {
  private lease: LockLease | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: EngineDeps) {}

  // ---------------------------------------------------------------- public commands

  /** Work out the plan deploy would run, changing nothing. */
  async plan(req: Pick<DeployRequest, 'candidate' | 'strategy'>): Promise<{ strategy: Strategy; steps: Step[]; current: CurrentState }> {
    const current = await this.currentState();
    const strategy = this.resolveStrategy(req.strategy);
    const steps = this.buildPlan(strategy, current, req.candidate);
    return { strategy, steps, current };
  }

  async deploy(req: DeployRequest): Promise<Outcome> {
    const { deps } = this;
    const strategy = this.resolveStrategy(req.strategy);
    const id = newDeploymentId(deps.clock.now());
    await this.acquireLock(id, req.lockWaitMs);
    try {
      const last = await deps.store.records.latest(deps.config.service);
      if (isNotSettled(last)) return this.unfinishedOutcome(last);
      await this.preflight();
      await this.retireDueKept(last);
      const current = await this.currentState();
      if (current.stable && current.stable.revision.id === req.candidate.id) {
        return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: `Revision ${req.candidate.id} already serves 100% of production; nothing to do.` };
      }
      const steps = this.buildPlan(strategy, current, req.candidate);
      const record = newRecord({
        id,
        service: deps.config.service,
        env: deps.env,
        strategy: strategy.name,
        stable: current.stable,
        candidate: req.candidate,
        plan: steps,
        by: { ...deps.holder, deploymentId: id },
        now: deps.clock.now(),
      });
      await this.save(record);
      deps.events.emit({ type: 'deploy.start', service: record.service, strategy: record.strategy, deploymentId: id, stable: record.stable, candidate: record.candidate, steps });
      return await this.runDeploy(record, strategy, req.rollbackOnFailure);
    } finally {
      await this.releaseLock();
    }
  }

  /**
   * `zdd promote`: a deploy paused by a live process is told to go on; a deploy whose process is
   * gone is continued here from its last checkpoint.
   */
  async promote(): Promise<Outcome> {
    const { deps } = this;
    const record = await deps.store.records.latest(deps.config.service);
    if (!record || !['running', 'paused', 'failed'].includes(record.status)) {
      return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: record?.status === 'rolling-back' ? 'The last deploy is rolling back; nothing to promote.' : 'No deploy is in progress; nothing to promote.' };
    }
    const lock = await deps.store.lock.inspect(deps.config.service);
    if (lock && !lock.stale && lock.holder.deploymentId === record.id) {
      await this.request(record.id, 'promoteRequested');
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Asked deploy ${record.id} (pid ${lock.holder.pid} on ${lock.holder.host}) to go on past its pause.` };
    }
    await this.takeOverLock(record.id);
    try {
      await this.preflight();
      deps.events.emit({ type: 'info', message: `Continuing deploy ${record.id} from step ${record.stepIndex + 1} of ${record.plan.length} (its process is gone)` });
      const strategy = this.resolveStrategy(record.strategy);
      // The step in flight when the process died is run again (steps are idempotent), except a
      // pause: promoting means going past it.
      if (record.plan[record.stepIndex]?.kind === 'pause') record.stepIndex += 1;
      record.status = 'running';
      record.by = { ...deps.holder, deploymentId: record.id };
      deps.events.emit({ type: 'deploy.start', service: record.service, strategy: record.strategy, deploymentId: record.id, stable: record.stable, candidate: record.candidate, steps: record.plan, resumedAt: record.stepIndex });
      return await this.runDeploy(record, strategy, true);
    } finally {
      await this.releaseLock();
    }
  }

  /**
   * `zdd rollback` / `zdd abort`. During a deploy (running, paused or crashed): abort it and put all
   * traffic on stable. After a finished deploy (`abortOnly` false): restore the revision before it.
   */
  async rollback(opts: { abortOnly: boolean; lockWaitMs: number }): Promise<Outcome> {
    const { deps } = this;
    const record = await deps.store.records.latest(deps.config.service);
    if (isNotSettled(record)) {
      const lock = await deps.store.lock.inspect(deps.config.service);
      if (lock && !lock.stale && lock.holder.deploymentId === record.id && lock.holder.pid !== process.pid) {
        return this.abortLiveDeploy(record, lock.holder);
      }
      await this.takeOverLock(record.id);
      try {
        deps.events.emit({ type: 'info', message: `Deploy ${record.id} did not finish (${record.status}, ${describeWeights(record)}); rolling it back` });
        const strategy = this.resolveStrategy(record.strategy);
        const ok = await this.runRollback(record, strategy, record.rollback?.reason ?? 'manual rollback of an unfinished deploy');
        return ok
          ? { result: 'rolled-back', exitCode: ExitCode.Ok, message: `Rolled back: production on stable ${record.stable?.id ?? '(none)'}.`, record }
          : this.rollbackFailedOutcome(record);
      } finally {
        await this.releaseLock();
      }
    }
    if (opts.abortOnly) {
      return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: 'No deploy is in progress; nothing to abort.' };
    }
    return this.rollbackToPrevious(record, opts.lockWaitMs);
  }

  /** Retire revisions whose keep time has passed (blue-green's previous stable). */
  async retireDue(opts: { now?: boolean; lockWaitMs: number }): Promise<Outcome> {
    const { deps } = this;
    const record = await deps.store.records.latest(deps.config.service);
    if (!record?.kept || record.kept.retired) return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: 'No kept revision to retire.' };
    const due = Date.parse(record.kept.retireAt) <= deps.clock.now();
    if (!due && !opts.now) {
      return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: `Revision ${record.kept.revision.id} is kept until ${record.kept.retireAt} for instant rollback (pass --now to retire it now).` };
    }
    await this.acquireLock(record.id, opts.lockWaitMs);
    try {
      await this.retireKept(record);
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Retired ${record.kept.revision.id}.` };
    } finally {
      await this.releaseLock();
    }
  }

  // ---------------------------------------------------------------- planning

  private resolveStrategy(name: string): Strategy {
    return this.deps.strategy(name);
  }

  private buildPlan(strategy: Strategy, current: CurrentState, candidate: RevisionSpec): Step[] {
    const { config, provider } = this.deps;
    const missing = strategy.requires.filter((c) => !provider.capabilities[c]);
    if (missing.length) {
      throw new ConfigError([
        { path: 'provider', message: `provider "${provider.name}" cannot do ${missing.join(', ')}, which strategy "${strategy.name}" needs; pick another strategy (--strategy) or provider` },
      ]);
    }
    const options = (config.strategies as Record<string, unknown> | undefined)?.[strategy.name] ?? {};
    const replicas = config.replicas ?? current.stable?.replicas ?? 1;
    const problems = strategy.validate?.(options as never, { replicas, capabilities: provider.capabilities }) ?? [];
    if (problems.length) {
      throw new ConfigError(problems.map((p) => ({ path: `strategies.${strategy.name}${p.path ? `.${p.path}` : ''}`, message: p.message })));
    }
    const plan = strategy.plan({
      service: config.service,
      stable: current.stable,
      candidate,
      replicas,
      options: options as never,
      capabilities: provider.capabilities,
      hooks: configuredHookPoints(config),
      gates: Object.keys(config.gates ?? {}),
      drainMs: this.drainMs,
    });
    this.checkPlanReferences(plan.steps);
    return plan.steps;
  }

  /** Gates named by a plan must exist; a custom strategy can get this wrong. */
  private checkPlanReferences(steps: Step[]): void {
    const gates = this.deps.config.gates ?? {};
    const issues = [];
    for (const [i, s] of steps.entries()) {
      const names = s.kind === 'gate' ? [s.gate] : s.kind === 'pause' ? (s.analysis ?? []) : [];
      for (const n of names) if (!gates[n]) issues.push({ path: `gates.${n}`, message: `is used by step ${i + 1} (${describeStep(s)}) but not defined; add it under gates or remove it from the strategy's analysis` });
    }
    if (issues.length) throw new ConfigError(issues);
  }

  /** Production as the provider sees it: the revision with the most weight is stable. */
  async currentState(): Promise<CurrentState> {
    const snap = await this.deps.provider.snapshot();
    let stableId: string | null = null;
    let best = 0;
    for (const [id, w] of Object.entries(snap.weights)) {
      if (w > best) {
        best = w;
        stableId = id;
      }
    }
    const stableState = snap.revisions.find((r) => r.revision.id === stableId);
    const stable = stableId ? { revision: stableState?.revision ?? { id: stableId }, replicas: stableState?.desired ?? this.deps.config.replicas ?? 1 } : null;
    const others = snap.revisions
      .filter((r) => r.revision.id !== stableId)
      .map((r) => ({ revision: r.revision, replicas: r.desired, weight: snap.weights[r.revision.id] ?? 0 }));
    return { stable, others };
  }

  // ---------------------------------------------------------------- execution

  private async runDeploy(record: DeploymentRecord, strategy: Strategy, rollbackOnFailure: boolean): Promise<Outcome> {
    const { deps } = this;
    const watcher = new RequestWatcher(deps.store.records, record.id, deps.config.service);
    const run = new AbortController();
    const onSignal = () => run.abort(deps.signal.reason);
    if (deps.signal.aborted) onSignal();
    deps.signal.addEventListener('abort', onSignal, { once: true });
    watcher.onAbort(() => run.abort(new InterruptedError('zdd abort')));
    watcher.start();
    try {
      await this.runSteps(record, record, 'deploy', (step) => {
        if (run.signal.aborted) throw run.signal.reason;
        return this.execute(step, record, run.signal, watcher, 'deploy');
      });
      record.status = 'succeeded';
      record.finishedAt = this.nowIso();
      await this.save(record);
      const kept = record.kept ? ` Previous revision ${record.kept.revision.id} is kept until ${record.kept.retireAt} so \`zdd rollback\` stays instant.` : '';
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Deployed ${record.candidate.id}: it serves 100% of production.${kept}`, record };
    } catch (e) {
      return await this.onDeployFailure(record, strategy, e, rollbackOnFailure);
    } finally {
      watcher.stop();
      deps.signal.removeEventListener('abort', onSignal);
    }
  }

  private async onDeployFailure(record: DeploymentRecord, strategy: Strategy, e: unknown, rollbackOnFailure: boolean): Promise<Outcome> {
    const { deps } = this;
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
      record.finishedAt = this.nowIso();
      await this.save(record);
      return {
        result: 'failed',
        exitCode: ExitCode.NeedsPerson,
        message: `Deploy failed${stepText}: ${reason}\nRollback was disabled (--no-rollback): production is left at ${describeWeights(record)}.`,
        hint: 'Run `zdd rollback` to put all traffic on stable, or fix the problem and `zdd promote` to continue.',
        record,
      };
    }
    const ok = await this.runRollback(record, strategy, `${reason}${stepText}`);
    if (!ok) return this.rollbackFailedOutcome(record);
    const where = `Production is on stable ${record.stable?.id ?? '(none: first deploy removed)'}.`;
    if (interrupted) return { result: 'interrupted', exitCode: ExitCode.Interrupted, message: `Deploy of ${record.candidate.id} ${reason}${stepText}; rolled back. ${where}`, record };
    return {
      result: 'rolled-back',
      exitCode: ExitCode.RolledBack,
      message: `Deploy of ${record.candidate.id} failed${stepText}: ${reason}\nRolled back. ${where}`,
      hint: record.error.hint,
      record,
    };
  }

  /** Runs the strategy's rollback plan. Returns false when it could not finish (exit 4). */
  private async runRollback(record: DeploymentRecord, strategy: Strategy, reason: string): Promise<boolean> {
    const { deps } = this;
    if (!record.rollback) {
      const plan = strategy.rollback({ record, hooks: configuredHookPoints(deps.config), stableReplicas: record.stableReplicasBefore || (record.stable ? 1 : 0) });
      record.rollback = { reason, startedAt: this.nowIso(), plan: plan.steps, stepIndex: 0 };
    }
    record.status = 'rolling-back';
    await this.save(record);
    deps.events.emit({ type: 'rollback.start', reason });
    // Rollback must not be cut short by the signal that caused it; later signals only warn.
    const rb = new AbortController();
    const onSignal = () => deps.events.emit({ type: 'warn', message: 'Rollback in progress: it will finish before zdd exits.' });
    deps.signal.addEventListener('abort', onSignal);
    const rollback = record.rollback;
    try {
      await this.runSteps(record, rollback, 'rollback', (step) => this.executeWithRetry(step, record, rb.signal));
      record.status = 'rolled-back';
      record.finishedAt = this.nowIso();
      await this.save(record);
      deps.events.emit({ type: 'rollback.done', ok: true, message: `Production on stable ${record.stable?.id ?? '(none)'}` });
      return true;
    } catch (e) {
      record.status = 'rollback-failed';
      record.error = { ...(record.error ?? { code: 'rollback' }), message: `${record.error?.message ?? reason}; rollback failed: ${errorMessage(e)}`, code: record.error?.code ?? 'rollback' };
      try {
        await this.save(record);
      } catch {
        // The state store may be what failed; the message below still says what to do.
      }
      deps.events.emit({ type: 'rollback.done', ok: false, message: errorMessage(e) });
      return false;
    } finally {
      deps.signal.removeEventListener('abort', onSignal);
    }
  }

  /**
   * Checkpoint, announce, act, checkpoint: the same for every step of a deploy (`cursor` is the
   * record) and of its rollback (`cursor` is record.rollback). The index moves only after a step is done.
   */
  private async runSteps(
    record: DeploymentRecord,
    cursor: { plan: Step[]; stepIndex: number },
    phase: 'deploy' | 'rollback',
    act: (step: Step) => Promise<void>,
  ): Promise<void> {
    const { events, clock } = this.deps;
    const total = cursor.plan.length;
    while (cursor.stepIndex < total) {
      const index = cursor.stepIndex;
      const step = cursor.plan[index];
      record.inFlight = { index, phase, startedAt: this.nowIso() };
      await this.save(record);
      const started = clock.now();
      events.emit({ type: 'step.start', index, total, step, description: describeStep(step), phase });
      await act(step);
      record.inFlight = undefined;
      cursor.stepIndex = index + 1;
      await this.save(record);
      events.emit({ type: 'step.done', index, total, step, durationMs: clock.now() - started, phase });
    }
  }

  /** Rollback steps are retried: a passing network blip must not leave production half-switched. */
  private async executeWithRetry(step: Step, record: DeploymentRecord, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.execute(step, record, signal, undefined, 'rollback');
        return;
      } catch (e) {
        if (step.kind === 'hook') {
          this.deps.events.emit({ type: 'warn', message: `${errorMessage(e)} (rollback goes on)` });
          return;
        }
        if (attempt >= ROLLBACK_STEP_ATTEMPTS || e instanceof CheckFailedError) throw e;
        this.deps.events.emit({ type: 'warn', message: `Rollback step "${describeStep(step)}" failed (attempt ${attempt}/${ROLLBACK_STEP_ATTEMPTS}): ${errorMessage(e)}; retrying` });
        await this.deps.clock.sleep(1000 * attempt);
      }
    }
  }

  private async execute(step: Step, record: DeploymentRecord, signal: AbortSignal, watcher: RequestWatcher | undefined, phase: 'deploy' | 'rollback'): Promise<void> {
    const { deps } = this;
    const { platform, router } = deps.provider;
    switch (step.kind) {
      case 'provision': {
        const rev = this.revision(record, step.role);
        await platform.provision(rev, step.replicas);
        record.replicas[step.role] = step.replicas;
        record.healthy = record.healthy.filter((r) => r !== step.role);
        await this.save(record);
        await platform.waitHealthy(rev.id, { timeoutMs: this.healthTimeoutMs, signal });
        record.healthy.push(step.role);
        return;
      }
      case 'scale': {
        const rev = this.revision(record, step.role);
        const before = record.replicas[step.role];
        if (step.replicas === 0 && record.weights[step.role] > 0) {
          throw new ZddError('unsafe-scale', `Refusing to scale ${step.role} ${rev.id} to 0 while it has ${record.weights[step.role]}% of traffic`);
        }
        await platform.scale(rev.id, step.replicas, { drainMs: this.drainMs });
        record.replicas[step.role] = step.replicas;
        if (step.replicas > before) {
          record.healthy = record.healthy.filter((r) => r !== step.role);
          await this.save(record);
          await platform.waitHealthy(rev.id, { timeoutMs: this.healthTimeoutMs, signal });
          record.healthy.push(step.role);
        }
        return;
      }
      case 'testRoute': {
        if (!router.setTestRoute) {
          if (step.role === null) return;
          throw new ProviderError(`Provider "${deps.provider.name}" has no test route`, { changed: true });
        }
        if (step.role && !record.healthy.includes(step.role)) {
          throw new ZddError('unhealthy-target', `Refusing to route test traffic to ${step.role} ${this.revision(record, step.role).id}: it has not passed its health checks`);
        }
        await router.setTestRoute(step.role ? this.revision(record, step.role).id : null);
        record.testRoute = step.role;
        return;
      }
      case 'shiftTraffic':
        return this.shiftTraffic(step.weights, record);
      case 'gate': {
        const gate = deps.config.gates?.[step.gate];
        if (!gate) throw new ConfigError([{ path: `gates.${step.gate}`, message: 'is used by the plan but not defined' }]);
        const outcome = await runGate(gate, this.checkContext(record, signal), {
          gateName: step.gate,
          mode: 'gate',
          onResult: (r) => this.onCheckResult(record, { ...r, gate: step.gate }),
        });
        if (outcome.verdict === 'fail') throw new CheckFailedError(`Gate "${step.gate}" failed: ${outcome.reason}`);
        return;
      }
      case 'pause':
        return this.pause(step, record, signal, watcher);
      case 'hook':
        return runHooks(step.hook, deps.config, { cwd: deps.configDir, env: await this.hookEnv(record, phase), signal, events: deps.events });
      case 'retire': {
        const rev = record[step.role];
        if (!rev) return;
        if (record.weights[step.role] > 0) {
          throw new ZddError('unsafe-retire', `Refusing to retire ${step.role} ${rev.id} while it has ${record.weights[step.role]}% of traffic`);
        }
        if (record.testRoute === step.role && router.setTestRoute) {
          await router.setTestRoute(null);
          record.testRoute = null;
        }
        if (step.afterMs && step.afterMs > 0) {
          record.kept = { role: step.role, revision: rev, retireAt: new Date(deps.clock.now() + step.afterMs).toISOString() };
          deps.events.emit({ type: 'info', message: `Keeping ${rev.id} until ${record.kept.retireAt} (${formatDuration(step.afterMs)}) so rollback stays instant; \`zdd retire\` or the next deploy stops it after that` });
          return;
        }
        await platform.retire(rev.id, { drainMs: this.drainMs });
        record.replicas[step.role] = 0;
        record.healthy = record.healthy.filter((r) => r !== step.role);
        return;
      }
    }
  }

  /** One router call, then read back: promise 2. No weight for a revision that is not healthy: promise 1. */
  private async shiftTraffic(weights: RoleWeights, record: DeploymentRecord): Promise<void> {
    const { deps } = this;
    const total = weights.stable + weights.candidate;
    if (total !== 100 && total !== 0) throw new ZddError('bad-plan', `Plan error: weights must sum to 100, got stable ${weights.stable} + candidate ${weights.candidate}`);
    for (const role of ['stable', 'candidate'] as const) {
      if (weights[role] > 0 && !record.healthy.includes(role)) {
        throw new ZddError('unhealthy-target', `Refusing to send ${weights[role]}% of traffic to ${role} ${this.revision(record, role).id}: it has not passed its health checks`);
      }
      if (weights[role] > 0 && !record[role]) throw new ZddError('bad-plan', `Plan error: ${role} has no revision but was given ${weights[role]}%`);
    }
    const byRevision: WeightMap = {};
    if (record.stable) byRevision[record.stable.id] = weights.stable;
    byRevision[record.candidate.id] = weights.candidate;
    await deps.provider.router.setWeights(byRevision);
    const readBack = await deps.provider.router.getWeights();
    const mismatched = Object.entries(byRevision).filter(([id, w]) => (readBack[id] ?? 0) !== w);
    const extra = Object.entries(readBack).filter(([id, w]) => !(id in byRevision) && w > 0);
    if (mismatched.length || extra.length) {
      const seen = Object.entries(readBack).map(([id, w]) => `${id} ${w}%`).join(', ') || 'nothing';
      const want = Object.entries(byRevision).map(([id, w]) => `${id} ${w}%`).join(', ');
      throw new TrafficMismatchError(`Router reports ${seen} after zdd set ${want}`);
    }
    record.weights = { ...weights };
    deps.events.emit({ type: 'traffic', weights: { ...weights }, byRevision, verified: true });
  }

  private async pause(step: Extract<Step, { kind: 'pause' }>, record: DeploymentRecord, signal: AbortSignal, watcher: RequestWatcher | undefined): Promise<void> {
    const { deps } = this;
    const index = record.stepIndex;
    if (step.durationMs === undefined) {
      record.status = 'paused';
      await this.save(record);
      deps.events.emit({ type: 'paused', index, message: `Paused at ${describeWeights(record)}. Run \`zdd promote\` to go on or \`zdd abort\` to roll back.` });
      if (!watcher) throw new ZddError('bad-plan', 'A manual pause cannot be part of a rollback plan');
      await watcher.waitForPromote(signal);
      record.status = 'running';
      record.promoteRequested = undefined;
      return;
    }
    // A bake: the timer, the analysis gates and `zdd promote` race; a failed check ends it at once.
    const bake = new AbortController();
    const stop = () => bake.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const started = deps.clock.now();
    const end = started + step.durationMs;
    try {
      const analyses = (step.analysis ?? []).map(async (name) => {
        const gate = deps.config.gates?.[name];
        if (!gate) throw new ConfigError([{ path: `gates.${name}`, message: 'is used by the plan but not defined' }]);
        const outcome = await runGate(gate, this.checkContext(record, bake.signal), {
          gateName: name,
          mode: 'analysis',
          durationMs: step.durationMs,
          onResult: (r) => this.onCheckResult(record, { ...r, gate: name }),
        });
        if (outcome.verdict === 'fail') throw new CheckFailedError(`Analysis "${name}" failed: ${outcome.reason}`);
      });
      const timer = (async () => {
        while (deps.clock.now() < end) {
          const remaining = end - deps.clock.now();
          deps.events.emit({ type: 'bake.progress', index, elapsedMs: deps.clock.now() - started, remainingMs: remaining });
          await deps.clock.sleep(Math.min(remaining, 1000), bake.signal);
        }
      })();
      const promoted = watcher ? watcher.waitForPromote(bake.signal).then(() => 'promoted' as const) : new Promise<never>(() => {});
      const all = Promise.all([timer, ...analyses]).then(() => 'done' as const);
      const first = await Promise.race([all, promoted]);
      if (first === 'promoted') {
        record.promoteRequested = undefined;
        deps.events.emit({ type: 'info', message: 'Promoted: bake skipped' });
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
      if (!bake.signal.aborted) bake.abort(new Error('bake finished'));
    }
  }

  // ---------------------------------------------------------------- rollback to previous, abort

  private async rollbackToPrevious(last: DeploymentRecord | null, lockWaitMs: number): Promise<Outcome> {
    const { deps } = this;
    const id = newDeploymentId(deps.clock.now());
    await this.acquireLock(id, lockWaitMs);
    try {
      await this.preflight();
      const current = await this.currentState();
      const history = await deps.store.records.history(deps.config.service, 20);
      const previous = findPrevious(history, current.stable?.revision.id ?? null);
      if (!current.stable || !previous) {
        return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message: current.stable ? `Nothing to roll back to: no revision before ${current.stable.revision.id} is recorded.` : 'Nothing to roll back: no revision serves production.' };
      }
      const running = current.others.find((o) => o.revision.id === previous.id && o.replicas > 0);
      const replicas = running?.replicas ?? last?.stableReplicasBefore ?? deps.config.replicas ?? current.stable.replicas;
      // Traffic first when the previous revision still runs (blue-green keeps it): one router call.
      const steps: Step[] = [
        { kind: 'provision', role: 'candidate', replicas },
        { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } },
        ...(configuredHookPoints(deps.config).includes('onRollback') ? [{ kind: 'hook', hook: 'onRollback' } as Step] : []),
        { kind: 'retire', role: 'stable' },
      ];
      const record = newRecord({
        id,
        service: deps.config.service,
        env: deps.env,
        strategy: 'rollback',
        stable: current.stable,
        candidate: running?.revision ?? previous,
        plan: steps,
        by: { ...deps.holder, deploymentId: id },
        now: deps.clock.now(),
        candidateReplicas: running?.replicas ?? 0,
      });
      await this.save(record);
      deps.events.emit({ type: 'deploy.start', service: record.service, strategy: 'rollback', deploymentId: id, stable: record.stable, candidate: record.candidate, steps });
      const outcome = await this.runDeploy(record, this.resolveStrategy('canary'), true);
      if (outcome.exitCode === ExitCode.Ok) {
        return { ...outcome, message: `Rolled back to ${record.candidate.id}: it serves 100% of production (${current.stable.revision.id} retired).` };
      }
      if (outcome.exitCode === ExitCode.RolledBack) {
        return { ...outcome, exitCode: ExitCode.NeedsPerson, message: `Could not roll back to ${record.candidate.id}; production stays on ${current.stable.revision.id}.\n${outcome.message}` };
      }
      return outcome;
    } finally {
      await this.releaseLock();
    }
  }

  /** A live process runs the deploy: ask it to abort and follow its record until it has rolled back. */
  private async abortLiveDeploy(record: DeploymentRecord, holder: LockHolderInfo): Promise<Outcome> {
    const { deps } = this;
    await this.request(record.id, 'abortRequested');
    deps.events.emit({ type: 'info', message: `Asked deploy ${record.id} (pid ${holder.pid} on ${holder.host}) to abort; waiting for its rollback` });
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const r = await deps.store.records.latest(deps.config.service);
      if (!r || r.id !== record.id) break;
      if (r.status === 'rolled-back') return { result: 'rolled-back', exitCode: ExitCode.Ok, message: `Deploy ${record.id} aborted and rolled back: production on stable ${r.stable?.id ?? '(none)'}.`, record: r };
      if (r.status === 'rollback-failed') return this.rollbackFailedOutcome(r);
      if (r.status === 'succeeded') return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Deploy ${record.id} finished before the abort arrived; run \`zdd rollback\` again to restore ${r.stable?.id}.` };
      if (r.status === 'failed') return { result: 'failed', exitCode: ExitCode.NeedsPerson, message: `Deploy ${record.id} stopped without rollback: ${describeWeights(r)}` };
      const lock = await deps.store.lock.inspect(deps.config.service);
      if (!lock || lock.stale) {
        // The holder died or let go without finishing: finish the rollback here.
        return this.rollback({ abortOnly: true, lockWaitMs: 0 });
      }
      if (Date.now() > deadline) {
        return { result: 'error', exitCode: ExitCode.NeedsPerson, message: `Deploy ${record.id} did not acknowledge the abort within 10 minutes (${describeWeights(r)})`, hint: `Check process ${holder.pid} on ${holder.host}.` };
      }
      if (!r.abortRequested) await this.request(record.id, 'abortRequested');
      await new Promise((res) => setTimeout(res, 250));
    }
    return { result: 'error', exitCode: ExitCode.NeedsPerson, message: 'The deployment record changed while waiting for the abort; run `zdd status`.' };
  }

  private rollbackFailedOutcome(record: DeploymentRecord): Outcome {
    return {
      result: 'rollback-failed',
      exitCode: ExitCode.NeedsPerson,
      message:
        `ROLLBACK FAILED for ${record.service} — production needs a person.\n` +
        `  last verified traffic: ${describeWeights(record)}\n` +
        `  instances: stable ${record.replicas.stable}, candidate ${record.replicas.candidate}${record.testRoute ? `; test route → ${record.testRoute}` : ''}\n` +
        `  error: ${record.error?.message ?? 'unknown'}`,
      hint: 'Fix the cause (see the error), then run `zdd rollback` again: it resumes the rollback where it stopped. `zdd status` shows the record.',
      record,
    };
  }

  private unfinishedOutcome(last: DeploymentRecord): Outcome {
    return {
      result: 'error',
      exitCode: ExitCode.NeedsPerson,
      message: `The last deploy (${last.id}, ${last.candidate.id}) did not finish: ${last.status} at step ${Math.min(last.stepIndex + 1, last.plan.length)} of ${last.plan.length}, ${describeWeights(last)}. Nothing was changed.`,
      hint: 'Run `zdd rollback` to put all traffic back on stable, or `zdd promote` to continue that deploy.',
      record: last,
    };
  }

  // ---------------------------------------------------------------- helpers

  private async preflight(): Promise<void> {
    try {
      await this.deps.provider.preflight?.();
    } catch (e) {
      if (e instanceof ZddError) throw e;
      throw new ProviderError(`Provider "${this.deps.provider.name}" is not ready: ${errorMessage(e)}`, { cause: e });
    }
  }

  /** A kept revision whose time has come is retired before the next deploy needs its place. */
  private async retireDueKept(last: DeploymentRecord | null): Promise<void> {
    if (!last?.kept || last.kept.retired) return;
    if (Date.parse(last.kept.retireAt) > this.deps.clock.now()) {
      this.deps.events.emit({ type: 'info', message: `Retiring kept revision ${last.kept.revision.id} early: a new deploy replaces it` });
    }
    await this.retireKept(last);
  }

  private async retireKept(record: DeploymentRecord): Promise<void> {
    const kept = record.kept!;
    const weights = await this.deps.provider.router.getWeights();
    if ((weights[kept.revision.id] ?? 0) > 0) {
      this.deps.events.emit({ type: 'warn', message: `Not retiring ${kept.revision.id}: the router still gives it ${weights[kept.revision.id]}%` });
      return;
    }
    await this.deps.provider.platform.retire(kept.revision.id, { drainMs: this.drainMs });
    kept.retired = true;
    if (record.stable?.id === kept.revision.id) record.replicas.stable = 0;
    await this.deps.store.records.save({ ...record, updatedAt: this.nowIso() });
    this.deps.events.emit({ type: 'info', message: `Retired kept revision ${kept.revision.id}` });
  }

  private onCheckResult(record: DeploymentRecord, result: Parameters<typeof addVerdict>[1]): void {
    addVerdict(record, result);
    this.deps.events.emit({ type: 'check', result });
  }

  private checkContext(record: DeploymentRecord, signal: AbortSignal): CheckContext {
    const { deps } = this;
    const env = this.baseEnv(record);
    return {
      service: deps.config.service,
      candidate: record.candidate,
      stable: record.stable,
      endpoints: (role: Role) => deps.provider.platform.endpoints(this.revision(record, role).id),
      router: deps.provider.router,
      clock: deps.clock,
      signal,
      env,
      cwd: deps.configDir,
    };
  }

  private baseEnv(record: DeploymentRecord): Record<string, string> {
    const env: Record<string, string> = {
      ZDD_SERVICE: record.service,
      ZDD_REVISION: record.candidate.id,
      ZDD_CANDIDATE_REVISION: record.candidate.id,
      ZDD_STABLE_REVISION: record.stable?.id ?? '',
      ZDD_STRATEGY: record.strategy,
      ZDD_DEPLOYMENT_ID: record.id,
      ZDD_STEP: String(record.stepIndex + 1),
      ZDD_WEIGHT: String(record.weights.candidate),
    };
    if (record.candidate.image) env.ZDD_IMAGE = record.candidate.image;
    if (this.deps.env) env.ZDD_ENV = this.deps.env;
    return env;
  }

  private async hookEnv(record: DeploymentRecord, phase: 'deploy' | 'rollback'): Promise<Record<string, string>> {
    const env = this.baseEnv(record);
    env.ZDD_PHASE = phase;
    if (record.rollback) env.ZDD_ROLLBACK_REASON = record.rollback.reason;
    try {
      const ep = await this.deps.provider.platform.endpoints(record.candidate.id);
      const target = ep.testUrl ?? ep.instanceUrls?.[0] ?? ep.serviceUrl;
      if (target) env.ZDD_TARGET_URL = target;
      if (ep.serviceUrl) env.ZDD_SERVICE_URL = ep.serviceUrl;
      if (ep.testHeaders) env.ZDD_TEST_HEADERS = Object.entries(ep.testHeaders).map(([k, v]) => `${k}: ${v}`).join('\n');
    } catch {
      // endpoints are a convenience for hooks; a provider that cannot say leaves them out
    }
    return env;
  }

  private revision(record: DeploymentRecord, role: Role): RevisionSpec {
    const rev = record[role];
    if (!rev) throw new ZddError('bad-plan', `Plan error: the step acts on ${role}, but this deploy has no ${role} revision`);
    return rev;
  }

  /** Checkpoint: carry over requests another process wrote (promote/abort) and save atomically. */
  private async save(record: DeploymentRecord): Promise<void> {
    record.updatedAt = this.nowIso();
    const onDisk = await this.deps.store.records.latest(record.service).catch(() => null);
    if (onDisk?.id === record.id) {
      if (onDisk.abortRequested && !record.abortRequested) record.abortRequested = onDisk.abortRequested;
      if (onDisk.promoteRequested && !record.promoteRequested && record.status === 'paused') record.promoteRequested = onDisk.promoteRequested;
    }
    await this.deps.store.records.save(record);
  }

  private async request(id: string, field: 'abortRequested' | 'promoteRequested'): Promise<void> {
    const r = await this.deps.store.records.latest(this.deps.config.service);
    if (!r || r.id !== id) return;
    r[field] = this.nowIso();
    await this.deps.store.records.save(r);
  }

  private async acquireLock(deploymentId: string, waitMs: number): Promise<void> {
    const { deps } = this;
    if (waitMs > 0) {
      const info = await deps.store.lock.inspect(deps.config.service);
      if (info && !info.stale) deps.events.emit({ type: 'info', message: `Waiting up to ${formatDuration(waitMs)} for the lock held by ${info.holder.who}@${info.holder.host} (pid ${info.holder.pid})` });
    }
    this.lease = await deps.store.lock.acquire(deps.config.service, { ...deps.holder, deploymentId }, { waitMs, pollMs: 500 });
    this.startHeartbeat();
  }

  private async takeOverLock(deploymentId: string): Promise<void> {
    const { deps } = this;
    const info = await deps.store.lock.inspect(deps.config.service);
    if (info && !info.stale && info.holder.deploymentId !== deploymentId) throw new LockHeldError(deps.config.service, info.holder, false);
    if (!info) {
      this.lease = await deps.store.lock.acquire(deps.config.service, { ...deps.holder, deploymentId }, { waitMs: 0 });
    } else if (deps.store.lock.takeOver) {
      deps.events.emit({ type: 'warn', message: `Taking over the lock of deploy ${deploymentId} from ${info.holder.who}@${info.holder.host} (pid ${info.holder.pid}): ${info.staleReason ?? 'holder gone'}` });
      this.lease = await deps.store.lock.takeOver(deps.config.service, deps.holder, deploymentId);
    } else {
      throw new LockHeldError(deps.config.service, info.holder, info.stale, info.staleReason);
    }
    this.startHeartbeat();
  }

  private startHeartbeat(): void {
    this.heartbeatTimer = setInterval(() => {
      this.lease?.heartbeat().catch((e) => this.deps.events.emit({ type: 'warn', message: `Lock heartbeat failed: ${errorMessage(e)}` }));
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  private async releaseLock(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const lease = this.lease;
    this.lease = null;
    await lease?.release();
  }

  private get drainMs(): number {
    return this.deps.config.drain ?? DEFAULT_DRAIN_MS;
  }

  private get healthTimeoutMs(): number {
    return this.deps.config.health?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS;
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}

/** The revision that served before `currentId`, from the newest records. */
function findPrevious(history: DeploymentRecord[], currentId: string | null): RevisionSpec | null {
  for (const r of history) {
    if (r.strategy === "rollback") continue;
    if (r.status === "succeeded" && r.candidate.id === currentId && r.stable && r.stable.id !== currentId) return r.stable;
  }
  return null;
}
