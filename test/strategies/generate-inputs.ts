import { HOOK_POINTS } from '../../src/index.js';
import type { HookPoint, PlanInput } from '../../src/index.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { seededRandom } from './fixtures.js';

type Random = ReturnType<typeof seededRandom>;

export interface GeneratedCase {
  strategy: string;
  input: PlanInput<any>;
  /** Whether the strategy's validate() accepts the options (the engine would refuse the rest). */
  valid: boolean;
}

/** `count` deterministic inputs per built-in strategy: odd sizes, odd options, random hooks, gates and capabilities. */
export function generateCases(count: number, seed = 20261125): GeneratedCase[] {
  const rng = seededRandom(seed);
  const cases: GeneratedCase[] = [];
  for (const strategy of Object.keys(BUILT_IN_STRATEGIES)) {
    for (let i = 0; i < count; i++) {
      const replicas = rng.int(1, 7);
      const capabilities = { weightedTraffic: true, instantSwitch: true, batches: true, testRoute: rng.chance(0.6) };
      const input: PlanInput<any> = {
        service: 'web',
        stable: rng.chance(0.15) ? null : { revision: { id: 'v1' }, replicas: rng.int(1, 7) },
        candidate: { id: 'v2' },
        replicas,
        options: options(rng, strategy),
        capabilities,
        hooks: HOOK_POINTS.filter(() => rng.chance(0.5)) as HookPoint[],
        gates: ['smoke', 'analysis', 'latency'].filter(() => rng.chance(0.5)),
        drainMs: rng.int(0, 10_000),
      };
      const problems = BUILT_IN_STRATEGIES[strategy].validate?.(input.options, { replicas, capabilities }) ?? [];
      cases.push({ strategy, input, valid: problems.length === 0 });
    }
  }
  return cases;
}

function duration(rng: Random): number | undefined {
  return rng.pick([undefined, 0, rng.int(1, 120_000)]);
}

function options(rng: Random, strategy: string): unknown {
  if (rng.chance(0.1)) return rng.pick([undefined, {}]);
  const analysis = rng.chance(0.3) ? ['latency'] : undefined;
  switch (strategy) {
    case 'canary': {
      let previous = 0;
      const steps = Array.from({ length: rng.int(1, 6) }, () => {
        const weight: number = rng.pick([0, 100, previous, rng.int(0, 100), rng.int(0, 100)]);
        previous = weight;
        const pause = rng.pick([undefined, 'manual', {}, 0, rng.int(1, 60_000)]);
        return pause === undefined ? { weight } : { weight, pause };
      });
      return { steps, analysis };
    }
    case 'linear':
      return { stepPercent: rng.pick([1, 10, 25, 33, 50, 99, 100, rng.int(1, 100)]), interval: rng.int(0, 60_000), analysis };
    case 'blue-green':
      return { testRoute: rng.pick([undefined, true, false]), bake: duration(rng), keepPrevious: duration(rng), analysis };
    case 'rolling':
      return {
        batchSize: rng.pick([undefined, 1, 2, 3, rng.int(1, 10)]),
        maxSurge: rng.pick([undefined, 0, 1, 2, rng.int(0, 5)]),
        maxUnavailable: rng.pick([undefined, 0, 1, 2, rng.int(0, 5)]),
        pause: duration(rng),
        analysis,
      };
    default:
      throw new Error(`no generator for ${strategy}`);
  }
}
