import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import type { Step } from '../../src/index.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { rollingLimits } from '../../strategies/rolling.js';
import { generateCases, type GeneratedCase } from './generate-inputs.js';
import { initialWorld, simulate } from './plan-simulator.js';

const CASES_PER_STRATEGY = 400;
const cases = generateCases(CASES_PER_STRATEGY);

/** Every promise a deploy plan must keep, whatever the input. Throws with the first broken one. */
function checkDeployPlan({ strategy, input }: GeneratedCase): void {
  const before = structuredClone(input);
  const plan = BUILT_IN_STRATEGIES[strategy].plan(input);
  const steps = plan.steps;
  expect(input, 'plan() must not change its input').toEqual(before);
  expect(JSON.parse(JSON.stringify(plan)), 'plans are plain data').toEqual(plan);
  expect(plan.strategy).toBe(strategy);

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
    return;
  }

  // Stable is retired once, last, after the candidate holds 100% and after every gate and pause.
  const retires = steps.flatMap((s, i) => (s.kind === 'retire' ? [i] : []));
  expect(retires).toEqual([steps.length - 1]);
  const retireAt = retires[0];
  expect(states[retireAt].weights).toEqual({ stable: 0, candidate: 100 });
  const lastCheck = steps.findLastIndex((s) => s.kind === 'gate' || s.kind === 'pause');
  expect(lastCheck).toBeLessThan(retireAt);

  if (strategy === 'rolling') checkRollingCapacity(input, steps, states);
}

/** Rolling: never above replicas + maxSurge when growing, never below max(1, replicas - maxUnavailable) when shrinking. */
function checkRollingCapacity(input: GeneratedCase['input'], steps: Step[], states: ReturnType<typeof simulate>): void {
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

describe.each(Object.keys(BUILT_IN_STRATEGIES))('invariants of %s plans', (strategy) => {
  const mine = cases.filter((c) => c.strategy === strategy);

  it(`holds for ${CASES_PER_STRATEGY} generated inputs`, () => {
    const valid = mine.filter((c) => c.valid);
    // The generator must exercise the interesting shapes, or this test proves little.
    expect(valid.length).toBeGreaterThan(CASES_PER_STRATEGY / 2);
    expect(valid.filter((c) => c.input.stable === null).length).toBeGreaterThan(10);
    for (const c of valid) {
      try {
        checkDeployPlan(c);
      } catch (e) {
        throw new Error(`${strategy} with ${JSON.stringify(c.input)}:\n${(e as Error).message}`);
      }
    }
  });

  it('refuses options its validate() rejects, with a ConfigError', () => {
    for (const c of mine.filter((x) => !x.valid)) {
      expect(() => BUILT_IN_STRATEGIES[strategy].plan(c.input)).toThrow(ConfigError);
    }
  });
});
