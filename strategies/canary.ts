import { duration, intBetween, nonEmptyString, optionShow, z } from '../src/index.js';
import type { Plan, PlanInput, Step, Strategy } from '../src/index.js';
import {
  analysisGates,
  bake,
  finish,
  firstDeployPlan,
  hook,
  keepsTestRoute,
  manualPause,
  provisionCandidate,
  rollbackPlan,
  shift,
  smokeTest,
} from './plan-builders.js';

/** `pause: "30s"` bakes; `pause: {}` (or `pause: "manual"`) waits for `zdd promote`. */
const pauseSchema = z.union([duration(), z.literal('manual'), z.strictObject({})], {
  error: (iss) => `must be a duration like "30s", "manual" or {} (wait for zdd promote), got ${optionShow(iss.input)}`,
});

export const canaryStepSchema = z.strictObject({
  weight: intBetween(0, 100, 'Percent of production traffic on the candidate after this step'),
  pause: pauseSchema.optional().describe('Bake after the shift: a duration, or "manual" to wait for zdd promote'),
});

/** `strategies.canary` in the config. */
export const canaryOptionsSchema = z.strictObject({
  steps: z.array(canaryStepSchema).min(1, { error: 'needs at least one step, e.g. [{ weight: 10, pause: "30s" }]' }).describe('Weights in order; a final shift to 100 is added when the last step is below 100'),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every bake (default ["analysis"] when that gate exists)'),
});

/** `strategies.canary` as the config schema parses it (durations in ms). */
export type CanaryOptions = z.output<typeof canaryOptionsSchema>;
export type CanaryStep = CanaryOptions['steps'][number];

const SECOND = 1000;

/** Used when the config has no `strategies.canary` section. */
export const DEFAULT_CANARY_STEPS: CanaryStep[] = [{ weight: 10, pause: 30 * SECOND }, { weight: 50, pause: 30 * SECOND }, { weight: 100 }];

/**
 * Canary, as a checklist:
 *   1. start the candidate beside stable and wait until healthy (no traffic yet);
 *   2. smoke-test it through the test route, which stays on so testers keep reaching it;
 *   3. for each configured step: move production weight, then bake with analysis or wait for promote;
 *   4. end at 100% (a last shift when the steps stop short);
 *   5. remove the test route, postDeploy, retire stable.
 */
export const canary: Strategy<Partial<CanaryOptions> | undefined> = {
  name: 'canary',
  description: 'Shift production traffic to the candidate in weighted steps, baking with analysis after each',
  requires: ['weightedTraffic'],
  optionsSchema: canaryOptionsSchema,
  validate(options) {
    const steps = options?.steps;
    if (steps === undefined) return [];
    if (steps.length === 0) return [{ path: 'steps', message: 'needs at least one step, e.g. [{ weight: 10, pause: "30s" }], or remove it for the defaults' }];
    return steps.flatMap((s, i) =>
      Number.isInteger(s.weight) && s.weight >= 0 && s.weight <= 100 ? [] : [{ path: `steps[${i}].weight`, message: `must be a whole number 0–100, got ${String(s.weight)}` }],
    );
  },
  plan(input) {
    return planCanary('canary', input, { steps: input.options?.steps ?? DEFAULT_CANARY_STEPS, analysis: input.options?.analysis });
  },
  rollback(input) {
    return rollbackPlan('canary', input);
  },
};

/** The canary planner, shared with `linear` (which only computes its steps differently). */
export function planCanary(strategy: string, input: PlanInput<unknown>, options: CanaryOptions): Plan {
  if (!input.stable) return firstDeployPlan(strategy, input);
  const testRoute = keepsTestRoute(input, input.capabilities.testRoute);
  return {
    strategy,
    steps: [
      ...hook(input, 'preDeploy'),
      ...provisionCandidate(input, input.replicas),
      ...smokeTest(input, { useTestRoute: input.capabilities.testRoute, keepTestRoute: true }),
      ...weightSteps(input, options),
      ...finish(input, { testRoute }),
    ],
  };
}

/** The configured steps, literally (descending, 0 and repeated weights included), then 100% if not there yet. */
function weightSteps(input: PlanInput<unknown>, options: CanaryOptions): Step[] {
  const analysis = analysisGates(input, options.analysis);
  const steps: Step[] = [];
  let weight = 0;
  for (const step of options.steps) {
    // A repeated weight needs no router call: only its pause.
    if (step.weight !== weight) steps.push(...shift(input, step.weight));
    weight = step.weight;
    steps.push(...pauseAfter(step, analysis));
  }
  if (weight !== 100) steps.push(...shift(input, 100));
  return steps;
}

function pauseAfter(step: CanaryStep, analysis: string[]): Step[] {
  if (step.pause === undefined) return [];
  if (typeof step.pause === 'number') return bake(step.pause, analysis);
  return manualPause();
}
