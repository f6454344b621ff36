import { duration, intBetween, nonEmptyString, z } from '../src/index.js';
import type { Strategy } from '../src/index.js';
import { planCanary, type CanaryStep } from './canary.js';
import { rollbackPlan } from './plan-builders.js';

/** `strategies.linear` in the config. */
export const linearOptionsSchema = z.strictObject({
  stepPercent: intBetween(1, 100, 'Percent added at each step (Linear10PercentEvery1Minute → 10)'),
  interval: duration('Bake between steps'),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every bake (default ["analysis"] when that gate exists)'),
});

/** `strategies.linear` as the config schema parses it (durations in ms). */
export type LinearOptions = z.output<typeof linearOptionsSchema>;

/** Used when the config has no `strategies.linear` section: 10% a minute, like AWS's Linear10PercentEvery1Minute. */
export const DEFAULT_LINEAR_OPTIONS: LinearOptions = { stepPercent: 10, interval: 60_000 };

/**
 * Linear is canary with evenly spaced steps: `stepPercent` more every `interval` (33 → 33, 66, 99,
 * 100), baking with analysis after each step but the last.
 */
export const linear: Strategy<Partial<LinearOptions> | undefined> = {
  name: 'linear',
  description: 'Add a fixed percentage of production traffic to the candidate at a fixed interval, with analysis',
  requires: ['weightedTraffic'],
  optionsSchema: linearOptionsSchema,
  validate(options) {
    const p = options?.stepPercent;
    if (p === undefined || (Number.isInteger(p) && p >= 1 && p <= 100)) return [];
    return [{ path: 'stepPercent', message: `must be a whole number 1–100, got ${String(p)}` }];
  },
  plan(input) {
    const stepPercent = input.options?.stepPercent ?? DEFAULT_LINEAR_OPTIONS.stepPercent;
    const interval = input.options?.interval ?? DEFAULT_LINEAR_OPTIONS.interval;
    return planCanary('linear', input, { steps: linearSteps(stepPercent, interval), analysis: input.options?.analysis });
  },
  rollback(input) {
    return rollbackPlan('linear', input);
  },
};

/** p, 2p, … capped at 100; every step but the 100% one bakes `interval`. */
export function linearSteps(stepPercent: number, interval: number): CanaryStep[] {
  const step = Math.max(1, Math.floor(stepPercent));
  const steps: CanaryStep[] = [];
  for (let weight = step; weight < 100; weight += step) steps.push({ weight, pause: interval });
  steps.push({ weight: 100 });
  return steps;
}
