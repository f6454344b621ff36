import { expect } from 'vitest';
import type { PlanInput, Plan, Step, Strategy } from '../../src/index.js';
import { rollingLimits } from '../../strategies/rolling.js';
import { hook, record } from './fixtures.js';
import { applyStep, initialWorld, simulate, type WorldState } from './plan-simulator.js';

/**
 * The promises every plan must keep, checked on any strategy (built-in or the docs' plugin
 * example) by simulating its plans step by step.
 */

const back: Step = { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } };
const empty: Step = { kind: 'shiftTraffic', weights: { stable: 0, candidate: 0 } };

/** Every promise a deploy plan must keep, whatever the input. Throws with the first broken one. */
export function checkDeployPlan(strategy: Strategy, input: PlanInput<any>): Plan {
  const before = structuredClone(input);
  const plan = strategy.plan(input);
  const steps = plan.steps;
  expect(input, 'plan() must not change its input').toEqual(before);
  expect(JSON.parse(JSON.stringify(plan)), 'plans are plain data').toEqual(plan);
  expect(plan.strategy).toBe(strategy.name);

  // Every shift sums to 100 (the simulator also refuses weight for a revision with no healthy instances).
  for (const s of steps) if (s.kind === 'shiftTraffic') expect(s.weights.stable + s.weights.candidate).toBe(100);
  const states = simulate(initialWorld(input.stable?.replicas ?? null), steps, { phase: 'deploy' });

  // No traffic, test traffic or gate for the candidate before it is provisioned.
  const provisionAt = steps.findIndex((s) => s.kind === 'provision');
  expect(steps.filter((s) => s.kind === 'provision')).toEqual([{ kind: 'provision', role: 'candidate', replicas: expect.any(Number) }]);
  const firstUse = steps.findIndex((s) => s.kind === 'shiftTraffic' || s.kind === 'testRoute' || s.kind === 'gate');
  if (firstUse >= 0) expect(provisionAt).toBeLessThan(firstUse);

  // Ends with the candidate at full size holding 100% and no test route.
  const end = states.at(-1)!;
  expect(end.weights).toEqual({ stable: 0, candidate: 100 });
  expect(end.testRoute).toBeNull();
  expect(end.replicas.candidate).toBe(input.replicas);
  expect(steps.some((s) => s.kind === 'retire' && s.role === 'candidate')).toBe(false);

  // Hooks and gates only where configured.
  for (const s of steps) {
    if (s.kind === 'hook') expect(input.hooks).toContain(s.hook);
    if (s.kind === 'hook') expect(s.hook).not.toBe('onRollback');
    if (s.kind === 'gate') expect(input.gates).toContain(s.gate);
    if (s.kind === 'pause' && s.analysis) expect([...input.gates, ...(input.options?.analysis ?? [])]).toEqual(expect.arrayContaining(s.analysis));
  }

  if (!input.stable) {
    // First deploy: nothing to bake against or to retire.
    expect(steps.filter((s) => s.kind === 'pause' || s.kind === 'retire')).toEqual([]);
    return plan;
  }

  // Stable is retired once, last, after the candidate holds 100% and after every gate and pause.
  const retires = steps.flatMap((s, i) => (s.kind === 'retire' ? [i] : []));
  expect(retires).toEqual([steps.length - 1]);
  const retireAt = retires[0];
  expect(states[retireAt].weights).toEqual({ stable: 0, candidate: 100 });
  const lastCheck = steps.findLastIndex((s) => s.kind === 'gate' || s.kind === 'pause');
  expect(lastCheck).toBeLessThan(retireAt);

  if (strategy.name === 'rolling') checkRollingCapacity(input, steps, states);
  return plan;
}

/** Rolling: never above replicas + maxSurge when growing, never below max(1, replicas - maxUnavailable) when shrinking. */
function checkRollingCapacity(input: PlanInput<any>, steps: Step[], states: ReturnType<typeof simulate>): void {
  const { maxSurge, maxUnavailable } = rollingLimits(input.options, input.replicas);
  const floor = Math.max(1, input.replicas - maxUnavailable);
  const ceiling = input.replicas + maxSurge;
  steps.forEach((step, i) => {
    if (step.kind === 'retire') return;
    const was = states[i].replicas.stable + states[i].replicas.candidate;
    const now = states[i + 1].replicas.stable + states[i + 1].replicas.candidate;
    if (now > was) expect(now, `step ${i + 1} grows above replicas + maxSurge`).toBeLessThanOrEqual(ceiling);
    if (now < was) expect(now, `step ${i + 1} shrinks below replicas - maxUnavailable`).toBeGreaterThanOrEqual(floor);
  });
}

/**
 * The record the engine would hold if the deploy stopped at step `index`: steps before it done,
 * step `index` in flight or not started. The provider may be in either state for an in-flight step.
 */
export function recordAt(input: PlanInput<unknown>, steps: Step[], states: WorldState[], index: number, inFlight: boolean) {
  const world = states[index];
  return record({
    plan: steps,
    stepIndex: index,
    inFlight,
    stable: world.hasStable,
    weights: world.weights,
    replicas: world.replicas,
    testRoute: world.testRoute,
    healthy: world.healthy,
    stableReplicasBefore: input.stable?.replicas ?? 0,
  });
}

export function checkRollback(input: PlanInput<unknown>, rollback: Step[], world: WorldState, label: string, opts: { stableMayHaveShrunk: boolean }): void {
  const context = `${label}\nrollback: ${JSON.stringify(rollback)}`;
  let after: WorldState;
  try {
    after = simulate(world, rollback, { phase: 'rollback' }).at(-1)!;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${context}`);
  }
  const shifts = rollback.filter((s) => s.kind === 'shiftTraffic');
  expect(shifts, context).toHaveLength(1);
  const firstShift = rollback.findIndex((s) => s.kind === 'shiftTraffic');
  // Before traffic moves, only stable may be brought back (or, on a first deploy, the test route removed).
  const mayPrecede = (s: Step) => (input.stable ? (s.kind === 'provision' || s.kind === 'scale') && s.role === 'stable' : s.kind === 'testRoute' && s.role === null);
  for (const s of rollback.slice(0, firstShift)) expect(mayPrecede(s), context).toBe(true);
  expect(after.testRoute, context).toBeNull();
  expect(after.retired, context).toContain('candidate');
  expect(rollback.filter((s) => s.kind === 'hook'), context).toEqual(input.hooks.includes('onRollback') ? [hook('onRollback')] : []);
  expect(rollback.some((s) => s.kind === 'pause' || s.kind === 'gate'), context).toBe(false);
  if (!input.stable) {
    expect(shifts[0], context).toEqual(empty);
    return;
  }
  expect(shifts[0], context).toEqual(back);
  expect(after.weights, context).toEqual({ stable: 100, candidate: 0 });
  expect(after.replicas.stable, context).toBe(input.stable.replicas);
  expect(after.retired, context).not.toContain('stable');
  // Traffic first (promise 6) whenever stable surely still has running instances.
  if (world.replicas.stable > 0 && !world.retired.includes('stable') && !opts.stableMayHaveShrunk) expect(firstShift, context).toBe(0);
}

/** Plans a deploy, then checks the strategy's rollback from every step index, between steps and in flight. Returns the count. */
export function checkRollbackEverywhere(strategy: Strategy, input: PlanInput<any>): number {
  const steps = strategy.plan(input).steps;
  const states = simulate(initialWorld(input.stable?.replicas ?? null), steps, { phase: 'deploy' });
  const stableReplicas = input.stable?.replicas ?? 0;
  let checked = 0;
  for (let index = 0; index <= steps.length; index++) {
    const label = `${strategy.name} ${JSON.stringify(input)}\nstopped at step ${index + 1}: ${JSON.stringify(steps[index] ?? 'after the last step')}`;
    // Between steps (a crash, `zdd abort` at a pause, or the deploy finished): record and provider agree.
    const between = strategy.rollback({ record: recordAt(input, steps, states, index, false), hooks: input.hooks, stableReplicas });
    checkRollback(input, between.steps, states[index], `${label} (between steps)`, { stableMayHaveShrunk: false });
    checked++;
    if (index === steps.length) continue;
    // In flight: the record predates the step; the provider may or may not have done it.
    // A scale-down or retire of stable cut short may have removed instances: restoring it first is right then.
    const step = steps[index];
    const stableMayHaveShrunk = (step.kind === 'scale' || step.kind === 'retire') && step.role === 'stable';
    const inFlight = strategy.rollback({ record: recordAt(input, steps, states, index, true), hooks: input.hooks, stableReplicas });
    checkRollback(input, inFlight.steps, states[index], `${label} (in flight, not done)`, { stableMayHaveShrunk });
    checkRollback(input, inFlight.steps, applyStep(states[index], step, index, { phase: 'deploy' }), `${label} (in flight, done)`, { stableMayHaveShrunk });
    checked += 2;
  }
  return checked;
}
