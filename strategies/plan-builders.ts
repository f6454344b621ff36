/**
 * Pieces every built-in strategy plans with. Like the strategies, they use only zdd's public API,
 * so a strategy plugin written from the same API (see docs/strategies.md) has the same power.
 */
import type { HookPoint, PlanInput, Plan, Role, RollbackInput, Step } from '../src/index.js';

/** A hook step for `point`, or nothing when no hook is configured there. */
export function hook(input: { hooks: HookPoint[] }, point: HookPoint): Step[] {
  return input.hooks.includes(point) ? [{ kind: 'hook', hook: point }] : [];
}

/** Gates that run during bakes: the strategy's `analysis` option, else `analysis` when that gate exists. */
export function analysisGates(input: PlanInput<unknown>, analysis: string[] | undefined): string[] {
  if (analysis) return [...analysis];
  return input.gates.includes('analysis') ? ['analysis'] : [];
}

/** A timed bake with analysis; nothing for 0 (a zero bake would only run the checks for no time). */
export function bake(durationMs: number | undefined, analysis: string[]): Step[] {
  if (!durationMs || durationMs <= 0) return [];
  return [analysis.length ? { kind: 'pause', durationMs, analysis } : { kind: 'pause', durationMs }];
}

/** Wait for `zdd promote`. */
export function manualPause(): Step[] {
  return [{ kind: 'pause' }];
}

/** One traffic change, with the hooks around it. */
export function shift(input: PlanInput<unknown>, candidate: number): Step[] {
  return [
    ...hook(input, 'preShift'),
    { kind: 'shiftTraffic', weights: { stable: 100 - candidate, candidate } },
    ...hook(input, 'postShift'),
  ];
}

/** Start the candidate; the engine waits until every instance is healthy. */
export function provisionCandidate(input: PlanInput<unknown>, replicas: number): Step[] {
  return [{ kind: 'provision', role: 'candidate', replicas }, ...hook(input, 'postProvision')];
}

/**
 * The `smoke` gate before any production traffic, through the test route when the provider has
 * one. `keepTestRoute` leaves the route on afterwards so testers still reach the candidate; the
 * plan must then end with `finish(…, { testRoute: true })`.
 */
export function smokeTest(input: PlanInput<unknown>, opts: { useTestRoute: boolean; keepTestRoute: boolean }): Step[] {
  if (!input.gates.includes('smoke')) return [];
  const gate: Step = { kind: 'gate', gate: 'smoke' };
  if (!opts.useTestRoute) return [gate];
  if (opts.keepTestRoute) return [{ kind: 'testRoute', role: 'candidate' }, gate];
  return [{ kind: 'testRoute', role: 'candidate' }, gate, { kind: 'testRoute', role: null }];
}

/** Whether `smokeTest(…, { keepTestRoute: true })` left a test route that `finish` must remove. */
export function keepsTestRoute(input: PlanInput<unknown>, useTestRoute: boolean): boolean {
  return useTestRoute && input.gates.includes('smoke');
}

/** After the candidate holds 100%: drop the test route, postDeploy, then retire stable. */
export function finish(input: PlanInput<unknown>, opts: { testRoute: boolean; retireAfterMs?: number }): Step[] {
  const retire: Step = opts.retireAfterMs ? { kind: 'retire', role: 'stable', afterMs: opts.retireAfterMs } : { kind: 'retire', role: 'stable' };
  return [...(opts.testRoute ? [{ kind: 'testRoute', role: null } as Step] : []), ...hook(input, 'postDeploy'), retire];
}

/**
 * The first deploy of a service, the same for every strategy: there is no stable to compare with
 * or fall back to, so no bakes — start, smoke-test, switch.
 */
export function firstDeployPlan(strategy: string, input: PlanInput<unknown>): Plan {
  return {
    strategy,
    steps: [
      ...hook(input, 'preDeploy'),
      ...provisionCandidate(input, input.replicas),
      ...smokeTest(input, { useTestRoute: input.capabilities.testRoute, keepTestRoute: false }),
      ...shift(input, 100),
      ...hook(input, 'postDeploy'),
    ],
  };
}

/** What the record says about stable's instances, counting the step that was in flight. */
function stableInstances(record: RollbackInput['record']): { instances: number; maybeStopped: boolean } {
  let instances = record.replicas.stable;
  let maybeStopped = false;
  const touched = record.plan.slice(0, record.stepIndex).map((step) => ({ step, done: true }));
  if (record.inFlight?.phase === 'deploy' && record.plan[record.inFlight.index]) {
    touched.push({ step: record.plan[record.inFlight.index], done: false });
  }
  for (const { step, done } of touched) {
    // A retire that ran (or was cut short) may have stopped stable's processes: start it again.
    if (step.kind === 'retire' && step.role === 'stable' && !step.afterMs) maybeStopped = true;
    // A scale-down that was cut short may already have removed instances the record still counts.
    if (!done && step.kind === 'scale' && step.role === 'stable') instances = Math.min(instances, step.replicas);
  }
  return { instances: maybeStopped ? 0 : instances, maybeStopped };
}

/** Whether a test route may be set: the record says so, or a testRoute step was cut short. */
function testRouteMaybeSet(record: RollbackInput['record']): boolean {
  if (record.testRoute) return true;
  const inFlight = record.inFlight?.phase === 'deploy' ? record.plan[record.inFlight.index] : undefined;
  return inFlight?.kind === 'testRoute' && inFlight.role !== null;
}

/**
 * The rollback plan shared by every built-in strategy. It is valid from any point of any deploy:
 * traffic goes back to stable in one router call first (promise 6) unless stable has no running
 * instances, in which case stable is brought back and healthy first (promise 1); the candidate is
 * retired last, once its weight is 0 (promise 8).
 */
export function rollbackPlan(strategy: string, input: RollbackInput): Plan {
  const { record } = input;
  const steps: Step[] = [];
  const removeTestRoute: Step[] = testRouteMaybeSet(record) ? [{ kind: 'testRoute', role: null }] : [];
  const cleanup: Step[] = [...hook(input, 'onRollback'), { kind: 'retire', role: 'candidate' }];

  if (!record.stable) {
    // First deploy: nothing to go back to. Taking the candidate's weight leaves the router with no backend.
    return { strategy, steps: [...removeTestRoute, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 0 } }, ...cleanup] };
  }

  const target = Math.max(1, input.stableReplicas);
  const stable = stableInstances(record);
  if (stable.instances === 0) {
    steps.push(restoreStable(stable.maybeStopped ? 'provision' : 'scale', target));
  }
  steps.push({ kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }, ...removeTestRoute);
  if (stable.instances > 0 && stable.instances < target) steps.push(restoreStable('scale', target));
  steps.push(...cleanup);
  return { strategy, steps };
}

function restoreStable(kind: 'provision' | 'scale', replicas: number): Step {
  const role: Role = 'stable';
  return { kind, role, replicas };
}
