import { runGate } from '../checks/gate-runner.js';
import { nonZero } from '../core/weights.js';
import { DEFAULT_ON_INCONCLUSIVE, inconclusiveMessage } from '../checks/on-inconclusive.js';
import type { GateConfig } from '../config/schema.js';
import type { CheckContext } from '../core/checks.js';
import { CheckFailedError, ConfigError, LockLostError, ProviderError, TrafficMismatchError, ZddError, errorMessage } from '../core/errors.js';
import { describeStep, formatDuration, type PauseStep, type Role, type RoleWeights, type Step } from '../core/plan.js';
import type { RevisionSpec, WeightMap } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { runFlagStep, watchForKill } from '../flags/flag-step.js';
import { hookProcess } from '../hooks/hook-process.js';
import { runHooks } from '../hooks/hook-runner.js';
import { addVerdict, describeRunStep, describeWeights } from './deployment-record.js';
import { drainMs, healthTimeoutMs, nowIso, type EngineDeps } from './engine-deps.js';
import { baseEnv, hookEnv } from './hook-env.js';
import type { LockSession } from './lock-session.js';
import { runMigrationStep } from './migrations.js';
import { carryOverRequests, type RequestWatcher } from './remote-requests.js';
import { joinUrl } from '../checks/http-check.js';
import { judgeSplit, observedSplitSetting, probeSplit, type ObservedSplitSetting } from './observed-split.js';

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
  /** A rollback goes on when a flag cannot be put back (traffic to stable still helps); the first such step is kept here. */
  flagFailure?: { error: unknown; index: number };
  /** --until-pause: at a manual pause, checkpoint and end the run (StoppedAtPause) instead of waiting. */
  stopAtPause?: boolean;
}

/** Thrown by a manual pause under --until-pause: not a failure; the record says "paused" and a later `zdd promote` continues. */
export class StoppedAtPause extends Error {
  constructor(readonly index: number) {
    super(`stopped at the manual pause of step ${index + 1}`);
    this.name = 'StoppedAtPause';
  }
}

/** The step cursor of a run: the record itself for a deploy, `record.rollback` for its rollback. */
export interface StepCursor {
  plan: Step[];
  stepIndex: number;
}

/**
 * Runs plans: checkpoint → act → verify → gate → checkpoint, for a deploy and its rollback alike.
 * Every provider write and every checkpoint first asks the lock session whether the lock is ours.
 */
export class StepRunner {
  /** The weights this runner last read back, per deploy: what the router should still say at the next shift. */
  private verified: { id: string; byRevision: WeightMap } | null = null;
  /** The observed-split setting of this run (turned off when a router's answers turn out to carry no tag). */
  private observed?: ObservedSplitSetting;

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

  /** After starting instances of `role`: it is not healthy (checkpointed so) until they all pass their health checks. */
  private async untilHealthy(scope: RunScope, role: Role, revisionId: string): Promise<void> {
    const { record, signal } = scope;
    record.healthy = record.healthy.filter((r) => r !== role);
    await this.checkpoint(scope);
    await this.deps.provider.platform.waitHealthy(revisionId, { timeoutMs: healthTimeoutMs(this.deps), signal });
    record.healthy.push(role);
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
    for (let attempt = 1; ; attempt++) {
      try {
        await this.execute(step, scope);
        return;
      } catch (e) {
        if (e instanceof LockLostError) throw e;
        if (step.kind === 'hook') {
          this.deps.events.emit({ type: 'warn', message: `${errorMessage(e)} (rollback goes on)` });
          return;
        }
        if (step.kind === 'flag' && attempt >= ROLLBACK_STEP_ATTEMPTS) {
          this.deps.events.emit({ type: 'warn', message: `${errorMessage(e)}: the flag could not be put back; the rest of the rollback goes on, then it ends as failed` });
          scope.flagFailure ??= { error: e, index };
          return;
        }
        if (attempt >= ROLLBACK_STEP_ATTEMPTS || e instanceof CheckFailedError) throw e;
        this.deps.events.emit({ type: 'warn', message: `Rollback step "${describeStep(step)}" failed (attempt ${attempt}/${ROLLBACK_STEP_ATTEMPTS}): ${errorMessage(e)}; retrying` });
        await this.deps.clock.sleep(1000 * attempt);
      }
    }
  }

  private async execute(step: Step, scope: RunScope): Promise<void> {
    const { deps, lock } = this;
    const { platform, router } = deps.provider;
    const { record, signal } = scope;
    switch (step.kind) {
      case 'provision': {
        const rev = revisionOf(record, step.role);
        await lock.beforeProviderWrite();
        await platform.provision(rev, step.replicas);
        record.replicas[step.role] = step.replicas;
        await this.untilHealthy(scope, step.role, rev.id);
        return;
      }
      case 'scale': {
        const rev = revisionOf(record, step.role);
        const before = record.replicas[step.role];
        if (step.replicas === 0 && record.weights[step.role] > 0) {
          throw new ZddError('unsafe-scale', `Refusing to scale ${step.role} ${rev.id} to 0 while it has ${record.weights[step.role]}% of traffic`);
        }
        await lock.beforeProviderWrite();
        await platform.scale(rev.id, step.replicas, { drainMs: drainMs(deps) });
        record.replicas[step.role] = step.replicas;
        if (step.replicas > before) await this.untilHealthy(scope, step.role, rev.id);
        return;
      }
      case 'testRoute': {
        if (!router.setTestRoute) {
          if (step.role === null) return;
          throw new ProviderError(`Provider "${deps.provider.name}" has no test route`, { changed: true });
        }
        if (step.role && !record.healthy.includes(step.role)) {
          throw new ZddError('unhealthy-target', `Refusing to route test traffic to ${step.role} ${revisionOf(record, step.role).id}: it has not passed its health checks`);
        }
        await lock.beforeProviderWrite();
        await router.setTestRoute(step.role ? revisionOf(record, step.role).id : null);
        record.testRoute = step.role;
        return;
      }
      case 'shiftTraffic':
        return this.shiftTraffic(step.weights, record, scope);
      case 'gate': {
        const gate = deps.config.gates?.[step.gate];
        if (!gate) throw new ConfigError([{ path: `gates.${step.gate}`, message: 'is used by the plan but not defined' }]);
        const outcome = await runGate(gate, this.checkContext(record, signal), {
          gateName: step.gate,
          mode: 'gate',
          onResult: (r) => this.onCheckResult(record, { ...r, gate: step.gate }),
        });
        if (outcome.verdict === 'fail') throw new CheckFailedError(`Gate "${step.gate}" failed: ${outcome.reason}`);
        if (outcome.verdict === 'inconclusive') await this.onInconclusive('Gate', step.gate, gate, outcome.reason, scope);
        return;
      }
      case 'pause':
        return this.pause(step, scope);
      case 'hook': {
        await lock.beforeProviderWrite();
        const onSpawn = async (hook: string, pgid: number) => {
          record.hookProcess = hookProcess(hook, pgid, deps.holder.host, nowIso(deps));
          await this.checkpoint(scope);
        };
        try {
          await runHooks(step.hook, deps.config, { cwd: deps.configDir, env: await hookEnv(deps, record, scope.phase), signal, events: deps.events, onSpawn });
        } finally {
          record.hookProcess = undefined;
        }
        return;
      }
      case 'migration':
        await lock.beforeProviderWrite();
        return runMigrationStep(step, { deps, record, signal, save: () => this.checkpoint(scope) });
      case 'flag':
        await lock.beforeProviderWrite();
        return runFlagStep(step, record, { flags: deps.flags, release: deps.config.flags?.release, save: () => this.checkpoint(scope), events: deps.events });
      case 'retire': {
        const rev = record[step.role];
        if (!rev) return;
        if (record.weights[step.role] > 0) {
          throw new ZddError('unsafe-retire', `Refusing to retire ${step.role} ${rev.id} while it has ${record.weights[step.role]}% of traffic`);
        }
        if (record.testRoute === step.role && router.setTestRoute) {
          await lock.beforeProviderWrite();
          await router.setTestRoute(null);
          record.testRoute = null;
        }
        if (step.afterMs && step.afterMs > 0) {
          record.kept = { role: step.role, revision: rev, retireAt: new Date(deps.clock.now() + step.afterMs).toISOString() };
          deps.events.emit({ type: 'info', message: `Keeping ${rev.id} until ${record.kept.retireAt} (${formatDuration(step.afterMs)}) so rollback stays instant; \`zdd retire\` or the next deploy stops it after that` });
          return;
        }
        await lock.beforeProviderWrite();
        await platform.retire(rev.id, { drainMs: drainMs(deps) });
        record.replicas[step.role] = 0;
        record.healthy = record.healthy.filter((r) => r !== step.role);
        return;
      }
    }
  }

  /** One router call, then read back: promise 2. No weight for a revision that is not healthy: promise 1. */
  private async shiftTraffic(weights: RoleWeights, record: DeploymentRecord, scope: RunScope): Promise<void> {
    const { deps } = this;
    const total = weights.stable + weights.candidate;
    if (total !== 100 && total !== 0) throw new ZddError('bad-plan', `Plan error: weights must sum to 100, got stable ${weights.stable} + candidate ${weights.candidate}`);
    for (const role of ['stable', 'candidate'] as const) {
      if (weights[role] > 0 && !record.healthy.includes(role)) {
        throw new ZddError('unhealthy-target', `Refusing to send ${weights[role]}% of traffic to ${role} ${revisionOf(record, role).id}: it has not passed its health checks`);
      }
      if (weights[role] > 0 && !record[role]) throw new ZddError('bad-plan', `Plan error: ${role} has no revision but was given ${weights[role]}%`);
    }
    const byRevision: WeightMap = {};
    // A restore reads "v2 100% | v3 0%": the revision being put back first.
    if (record.kind === 'restore') byRevision[record.candidate.id] = weights.candidate;
    if (record.stable) byRevision[record.stable.id] = weights.stable;
    byRevision[record.candidate.id] = weights.candidate;
    await this.warnIfChangedBehindUs(record);
    await this.lock.beforeProviderWrite();
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
    this.verified = { id: record.id, byRevision: nonZero(readBack) };
    deps.events.emit({ type: 'traffic', weights: { ...weights }, byRevision, verified: true });
    await this.observeSplit(byRevision, record, scope);
  }

  /**
   * After a verified shift, the split as clients meet it: real requests at the production entry
   * point, counted by the revision that answered (docs/observed-split.md). A split far from the
   * weights just read back (a stale balancer cache, a second listener, a CDN) fails the step; in a
   * rollback it only warns, and the rollback goes on.
   */
  private async observeSplit(written: WeightMap, record: DeploymentRecord, scope: RunScope): Promise<void> {
    const { deps } = this;
    const setting = (this.observed ??= observedSplitSetting(deps.config, deps.provider.router));
    if (!setting.on) return;
    const off = (why: string) => {
      this.observed = { on: false, why };
      deps.events.emit({ type: 'warn', message: `Observed split off for this run: ${why}` });
    };
    const url = (await deps.provider.platform.endpoints(record.candidate.id)).serviceUrl;
    if (!url) return off('the provider reports no production URL to send requests to');
    const revisionOf = setting.mapping ? await setting.mapping() : undefined;
    const headers = setting.probeHeaders ? await setting.probeHeaders() : undefined;
    const seen = await probeSplit(joinUrl(url, setting.path), { requests: setting.requests, withinMs: setting.withinMs, header: setting.header, revisionOf, headers, signal: scope.signal });
    if (setting.source === 'router' && seen.untagged > 0 && Object.keys(seen.byRevision).length === 0) {
      return off(`no answer from ${url} carried the ${setting.header} header the router names revisions with (docs/haproxy.md shows the line haproxy.cfg needs), so the split cannot be seen`);
    }
    const verdict = judgeSplit(written, seen, setting.header);
    if (verdict.inconclusive) {
      deps.events.emit({ type: 'warn', message: `Observed split not judged: ${verdict.inconclusive} (${verdict.summary})` });
      return;
    }
    if (verdict.ok) {
      deps.events.emit({ type: 'info', message: `Observed split at ${url}: ${verdict.summary}` });
      return;
    }
    const message = `The split clients meet at ${url} is not what the router reports: ${verdict.problems.join('; ')} (${verdict.summary})`;
    if (scope.phase === 'rollback') {
      deps.events.emit({ type: 'warn', message: `${message}; the rollback goes on` });
      return;
    }
    throw new CheckFailedError(message, 'Look for what else answers at the entry point: a balancer or CDN caching answers, a second listener or target group, or instances registered by hand. `observedSplit` in the config tunes or turns off this check.');
  }

  /**
   * Between two of this run's shifts, the router should still hold what zdd verified last. If it
   * does not, someone (or Terraform/CDK re-applying a listener) changed it: say so, then go on
   * (the next write puts the planned weights back). One read, and only from the second shift on.
   */
  private async warnIfChangedBehindUs(record: DeploymentRecord): Promise<void> {
    const last = this.verified;
    if (!last || last.id !== record.id) return;
    const now = nonZero(await this.deps.provider.router.getWeights());
    const ids = [...new Set([...Object.keys(now), ...Object.keys(last.byRevision)])].sort();
    const changed = ids.filter((id) => (now[id] ?? 0) !== (last.byRevision[id] ?? 0));
    if (!changed.length) return;
    const detail = changed.map((id) => `${id} ${now[id] ?? 0}% (zdd set ${last.byRevision[id] ?? 0}%)`).join(', ');
    this.deps.events.emit({
      type: 'warn',
      message: `The router changed between two of zdd's steps: ${detail}. Someone, or infrastructure-as-code re-applying the listener, changed it (see docs/aws.md, "Keeping Terraform/CDK off the weights"); zdd sets the planned weights again.`,
    });
  }

  private async pause(step: PauseStep, scope: RunScope): Promise<void> {
    const { deps } = this;
    const { record, signal, watcher } = scope;
    const index = record.stepIndex;
    if (step.durationMs === undefined) {
      return this.waitForPerson(scope, `Paused at ${describeWeights(record)}. Run \`zdd promote\` to go on or \`zdd abort\` to roll back.`);
    }
    // A bake: the timer, the analysis gates and `zdd promote` race; a failed check ends it at once.
    const bake = new AbortController();
    const stop = () => bake.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const started = deps.clock.now();
    const end = started + step.durationMs;
    const inconclusive: { name: string; gate: GateConfig; reason: string }[] = [];
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
        if (outcome.verdict === 'inconclusive') inconclusive.push({ name, gate, reason: outcome.reason });
      });
      const timer = (async () => {
        while (deps.clock.now() < end) {
          const remaining = end - deps.clock.now();
          deps.events.emit({ type: 'bake.progress', index, elapsedMs: deps.clock.now() - started, remainingMs: remaining });
          await deps.clock.sleep(Math.min(remaining, 1000), bake.signal);
        }
      })();
      const promoted = watcher ? watcher.waitForPromote(bake.signal, index).then(() => 'promoted' as const) : new Promise<never>(() => {});
      const all = Promise.all([timer, ...analyses]).then(() => 'done' as const);
      // A flag this run turned on, found off (a kill from anywhere): stop now, not at the bake's end.
      const killed = watchForKill(record, deps.flags, bake.signal);
      const first = await Promise.race([all, promoted, killed]);
      if (first === 'promoted') {
        record.promoteRequested = undefined;
        deps.events.emit({ type: 'info', message: 'Promoted: bake skipped' });
      } else {
        // The bake is over: each analysis that found no conclusive evidence applies its gate's choice.
        bake.abort(new Error('bake finished'));
        for (const i of inconclusive) await this.onInconclusive('Analysis', i.name, i.gate, i.reason, scope);
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
      if (!bake.signal.aborted) bake.abort(new Error('bake finished'));
    }
  }

  /** A gate or analysis without conclusive evidence: its `onInconclusive` (default pause) decides, and says so. */
  private async onInconclusive(kind: 'Gate' | 'Analysis', name: string, gate: GateConfig, reason: string, scope: RunScope): Promise<void> {
    const choice = gate.onInconclusive ?? DEFAULT_ON_INCONCLUSIVE;
    const message = inconclusiveMessage(kind, name, reason, choice, gate.onInconclusive !== undefined);
    if (choice === 'rollback') throw new CheckFailedError(message);
    if (choice === 'pass') {
      this.deps.events.emit({ type: 'warn', message });
      return;
    }
    await this.waitForPerson(scope, message);
  }

  /** A manual pause, or a pause an inconclusive gate asked for: checkpoint "paused", then wait for `zdd promote` (or `zdd abort`). */
  private async waitForPerson(scope: RunScope, message: string): Promise<void> {
    const { record, signal, watcher } = scope;
    if (!watcher) throw new ZddError('bad-plan', 'A manual pause cannot be part of a rollback plan');
    record.status = 'paused';
    await this.save(record);
    this.deps.events.emit({ type: 'paused', index: record.stepIndex, message });
    if (scope.stopAtPause) throw new StoppedAtPause(record.stepIndex);
    await watcher.waitForPromote(signal, record.stepIndex);
    record.status = 'running';
    record.promoteRequested = undefined;
  }

  private onCheckResult(record: DeploymentRecord, result: Parameters<typeof addVerdict>[1]): void {
    addVerdict(record, result);
    this.deps.events.emit({ type: 'check', result });
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

function revisionOf(record: DeploymentRecord, role: Role): RevisionSpec {
  const rev = record[role];
  if (!rev) throw new ZddError('bad-plan', `Plan error: the step acts on ${role}, but this deploy has no ${role} revision`);
  return rev;
}
