import { runGate } from '../../checks/gate-runner.js';
import { DEFAULT_ON_INCONCLUSIVE, inconclusiveMessage } from '../../checks/on-inconclusive.js';
import type { GateConfig } from '../../config/schema.js';
import { CheckFailedError, ConfigError, ZddError } from '../../core/errors.js';
import type { PauseStep } from '../../core/plan.js';
import { describeWeights } from '../deployment-record.js';
import type { StepContext, StepHandler } from './step-kind.js';

/** Thrown by a manual pause under --until-pause: not a failure; the record says "paused" and a later `zdd promote` continues. */
export class StoppedAtPause extends Error {
  constructor(readonly index: number) {
    // Stryker disable next-line StringLiteral,ArithmeticOperator: the run catches it by class and words the outcome itself (run-kit.ts); this text is never shown
    super(`stopped at the manual pause of step ${index + 1}`);
    // Stryker disable next-line StringLiteral: likewise never shown
    this.name = 'StoppedAtPause';
  }
}

/** Wait for a person (`zdd promote`), or bake: the timer, the analysis gates and `zdd promote` race. */
export const pause: StepHandler<PauseStep> = {
  async run(step, ctx) {
    if (step.durationMs === undefined) {
      return waitForPerson(ctx, `Paused at ${describeWeights(ctx.scope.record)}. Run \`zdd promote\` to go on or \`zdd abort\` to roll back.`);
    }
    return bake(step, step.durationMs, ctx);
  },
};

/** A bake: the timer, the analysis gates and `zdd promote` race; a failed check (or a kind's watch, a flag killed) ends it at once. */
async function bake(step: PauseStep, durationMs: number, ctx: StepContext): Promise<void> {
  const { deps } = ctx;
  const { record, signal, watcher } = ctx.scope;
  const index = record.stepIndex;
  const bake = new AbortController();
  const stop = () => bake.abort(signal.reason);
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: the run's signal aborts once; `once` only frees the listener sooner
  signal.addEventListener('abort', stop, { once: true });
  const started = deps.clock.now();
  const end = started + durationMs;
  const inconclusive: { name: string; gate: GateConfig; reason: string }[] = [];
  try {
    const analyses = (step.analysis ?? []).map(async (name) => {
      const gate = deps.config.gates?.[name];
      if (!gate) throw new ConfigError([{ path: `gates.${name}`, message: 'is used by the plan but not defined' }]);
      const outcome = await runGate(gate, ctx.checkContext(bake.signal), {
        gateName: name,
        mode: 'analysis',
        durationMs,
        onResult: (r) => ctx.onCheckResult({ ...r, gate: name }),
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
    // Stryker disable next-line ArrowFunction: any value but 'promoted' takes the same branch below
    const all = Promise.all([timer, ...analyses]).then(() => 'done' as const);
    // What a step kind watches during a bake (a flag this run turned on, found off): stop now, not at the bake's end.
    const watched = ctx.watchBake(bake.signal);
    const first = await Promise.race([all, promoted, watched]);
    if (first === 'promoted') {
      record.promoteRequested = undefined;
      deps.events.emit({ type: 'info', message: 'Promoted: bake skipped' });
    } else {
      // The bake is over: each analysis that found no conclusive evidence applies its gate's choice.
      // Stryker disable next-line StringLiteral: the timer and the analyses are done; the reason only stops the bake watch, and nobody reads it
      bake.abort(new Error('bake finished'));
      for (const i of inconclusive) await onInconclusive(ctx, 'Analysis', i.name, i.gate, i.reason);
    }
  } catch (e) {
    // Stryker disable next-line ConditionalExpression: when the run's signal aborts, every part of the bake already rejects with its reason (stop hands it to the bake's signal)
    if (signal.aborted) throw signal.reason;
    throw e;
  } finally {
    // Stryker disable next-line StringLiteral: after the bake, stop would abort an aborted controller: nothing
    signal.removeEventListener('abort', stop);
    // Stryker disable next-line ConditionalExpression,StringLiteral: aborting twice does nothing; after the race nobody reads the reason
    if (!bake.signal.aborted) bake.abort(new Error('bake finished'));
  }
}

/** A gate or analysis without conclusive evidence: its `onInconclusive` (default pause) decides, and says so. */
export async function onInconclusive(ctx: StepContext, kind: 'Gate' | 'Analysis', name: string, gate: GateConfig, reason: string): Promise<void> {
  const choice = gate.onInconclusive ?? DEFAULT_ON_INCONCLUSIVE;
  const message = inconclusiveMessage(kind, name, reason, choice, gate.onInconclusive !== undefined);
  if (choice === 'rollback') throw new CheckFailedError(message);
  if (choice === 'pass') {
    ctx.deps.events.emit({ type: 'warn', message });
    return;
  }
  await waitForPerson(ctx, message);
}

/** A manual pause, or a pause an inconclusive gate asked for: checkpoint "paused", then wait for `zdd promote` (or `zdd abort`). */
async function waitForPerson(ctx: StepContext, message: string): Promise<void> {
  const { record, signal, watcher } = ctx.scope;
  if (!watcher) throw new ZddError('bad-plan', 'A manual pause cannot be part of a rollback plan');
  record.status = 'paused';
  await ctx.save();
  ctx.deps.events.emit({ type: 'paused', index: record.stepIndex, message });
  if (ctx.scope.stopAtPause) throw new StoppedAtPause(record.stepIndex);
  await watcher.waitForPromote(signal, record.stepIndex);
  record.status = 'running';
  record.promoteRequested = undefined;
}
