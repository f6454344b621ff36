import { ConfigError, duration, intBetween, nonEmptyString, z } from '../src/index.js';
import type { PlanInput, Step, Strategy } from '../src/index.js';
import { analysisGates, bake, finish, firstDeployPlan, hook, keepsTestRoute, rollbackPlan, shift, smokeTest } from './plan-builders.js';

/** `strategies.rolling` in the config. */
export const rollingOptionsSchema = z.strictObject({
  batchSize: intBetween(1, 1000, 'Instances replaced per batch (default 1)').optional(),
  maxSurge: intBetween(0, 1000, 'Extra instances allowed above the replica count during the roll (default batchSize)').optional(),
  maxUnavailable: intBetween(0, 1000, 'Instances that may be missing below the replica count (default 0)').optional(),
  pause: duration('Bake between batches, with analysis (default 0)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during each pause (default ["analysis"] when that gate exists)'),
});

/** `strategies.rolling` as the config schema parses it (durations in ms). */
export type RollingOptions = z.output<typeof rollingOptionsSchema>;
type RollingInput = PlanInput<Partial<RollingOptions> | undefined>;

/** The limits a roll works within, defaults applied and batchSize clamped to the replica count. */
export interface RollingLimits {
  batchSize: number;
  /** Instances allowed above `replicas` (candidate + stable). */
  maxSurge: number;
  /** Instances allowed below `replicas` (candidate + stable). */
  maxUnavailable: number;
}

/**
 * Rolling, as a checklist. Batch after batch, until the candidate runs `replicas` instances and
 * stable none:
 *   1. make room: shrink stable first when adding a batch would exceed replicas + maxSurge;
 *   2. grow the candidate by one batch and wait until healthy (the first batch is smoke-tested);
 *   3. shift production weight to follow capacity, candidate% = 100·c/(c+s);
 *   4. shrink stable as far as replicas − maxUnavailable allows (draining the removed instances);
 *   5. bake with analysis between batches.
 * Then remove the test route, postDeploy, and retire stable, whose weight is 0 by then.
 * Serving capacity never drops below max(1, replicas − maxUnavailable) once it has reached it, and
 * stable keeps at least one instance while it has weight.
 */
export const rolling: Strategy<Partial<RollingOptions> | undefined> = {
  name: 'rolling',
  description: 'Replace stable with the candidate in batches, production weight following capacity',
  requires: ['batches'],
  optionsSchema: rollingOptionsSchema,
  validate(options, ctx) {
    // The weights in between (33%, 67% …) need a router that splits traffic by revision, or a
    // platform whose production follows its instances as it replaces them in place.
    if (!ctx.capabilities.weightedTraffic && !ctx.capabilities.rollsInPlace) {
      return [{ path: '', message: 'needs weightedTraffic (a router that splits traffic by revision) or a platform that rolls in place; pick another strategy (--strategy) or provider' }];
    }
    const { maxSurge, maxUnavailable } = rollingLimits(options, ctx.replicas);
    if (maxSurge === 0 && maxUnavailable === 0) {
      return [{ path: 'maxSurge', message: 'is 0 and so is maxUnavailable: no instance could ever be added or removed; set maxSurge: 1 (one candidate instance beside stable) or maxUnavailable: 1' }];
    }
    if (ctx.replicas + maxSurge < 2) {
      return [{ path: 'maxSurge', message: 'is 0 with 1 replica: the candidate could only start after stable stopped (downtime); set maxSurge: 1' }];
    }
    return [];
  },
  plan(input) {
    if (!input.stable) return firstDeployPlan('rolling', input);
    const testRoute = keepsTestRoute(input, input.capabilities.testRoute);
    return {
      strategy: 'rolling',
      steps: [...hook(input, 'preDeploy'), ...batches(input, input.stable.replicas), ...finish(input, { testRoute })],
    };
  },
  rollback(input) {
    return rollbackPlan('rolling', input);
  },
};

export function rollingLimits(options: Partial<RollingOptions> | undefined, replicas: number): RollingLimits {
  const batchSize = Math.max(1, Math.min(options?.batchSize ?? 1, replicas));
  return { batchSize, maxSurge: options?.maxSurge ?? batchSize, maxUnavailable: options?.maxUnavailable ?? 0 };
}

/** Every batch, from `stableReplicas` stable instances and no candidate to the candidate alone. */
function batches(input: RollingInput, stableReplicas: number): Step[] {
  const target = input.replicas;
  const { batchSize, maxSurge, maxUnavailable } = rollingLimits(input.options, target);
  const floor = Math.max(1, target - maxUnavailable);
  const ceiling = target + maxSurge;
  const pause = bake(input.options?.pause, analysisGates(input, input.options?.analysis));
  const steps: Step[] = [];
  let stable = stableReplicas;
  let candidate = 0;
  let weight = 0;

  while (candidate < target || stable > 0) {
    const before = { stable, candidate };
    const want = Math.min(batchSize, target - candidate);

    // 1. Make room: only down to the floor, and stable keeps one instance while it has weight.
    const overflow = candidate + stable + want - ceiling;
    const shrinkFirst = Math.max(0, Math.min(overflow, candidate + stable - floor, stable - 1));
    if (shrinkFirst > 0) {
      stable -= shrinkFirst;
      steps.push({ kind: 'scale', role: 'stable', replicas: stable });
    }

    // 2. Grow the candidate.
    const grow = Math.max(0, Math.min(want, ceiling - candidate - stable));
    if (grow > 0) {
      const first = candidate === 0;
      candidate += grow;
      if (first) steps.push(...firstBatch(input, candidate));
      else steps.push({ kind: 'scale', role: 'candidate', replicas: candidate });
    }

    // 3 + 4. Weights follow the capacity stable will have after this batch, set before it shrinks.
    const shrinkTo = stable - Math.max(0, Math.min(stable, candidate + stable - floor));
    const next = candidate === 0 ? 0 : weightFor(candidate, shrinkTo);
    if (next !== weight) steps.push(...shift(input, next));
    weight = next;
    if (shrinkTo < stable) {
      stable = shrinkTo;
      steps.push({ kind: 'scale', role: 'stable', replicas: stable });
    }

    if (stable === before.stable && candidate === before.candidate) {
      // Only reachable when validate() was bypassed; better a clear error than a plan that never ends.
      throw new ConfigError([{ path: 'strategies.rolling', message: `cannot make progress with ${candidate} candidate and ${stable} stable instances; raise maxSurge or maxUnavailable` }]);
    }
    const done = candidate === target && stable === 0;
    if (!done) steps.push(...pause);
  }
  return steps;
}

/** The first batch starts the candidate; it is smoke-tested before it gets any weight. */
function firstBatch(input: RollingInput, replicas: number): Step[] {
  return [
    { kind: 'provision', role: 'candidate', replicas },
    ...hook(input, 'postProvision'),
    ...smokeTest(input, { useTestRoute: input.capabilities.testRoute, keepTestRoute: true }),
  ];
}

/** Candidate percent for `candidate` and `stable` instances; both keep some traffic while both serve. */
function weightFor(candidate: number, stable: number): number {
  if (stable === 0) return 100;
  return Math.min(99, Math.max(1, Math.round((100 * candidate) / (candidate + stable))));
}
