import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import type { HookPoint, Step } from '../../src/index.js';
import { rolling, rollingLimits, type RollingOptions } from '../../strategies/rolling.js';
import { ALL_CAPABILITIES, bake, gate, hook, planInput, provision, retire, scale, shift, testRoute } from './fixtures.js';

describe('rolling plan', () => {
  const cases: { name: string; stable: number; replicas: number; options?: Partial<RollingOptions>; gates?: string[]; hooks?: HookPoint[]; steps: Step[] }[] = [
    {
      name: 'defaults, 3 → 3: one instance at a time, weights follow capacity',
      stable: 3,
      replicas: 3,
      steps: [provision(1), shift(33), scale('stable', 2), scale('candidate', 2), shift(67), scale('stable', 1), scale('candidate', 3), shift(100), scale('stable', 0), retire('stable')],
    },
    {
      name: 'bakes between batches, not after the last',
      stable: 3,
      replicas: 3,
      options: { pause: 1000 },
      gates: ['analysis'],
      steps: [
        provision(1),
        shift(33),
        scale('stable', 2),
        bake(1000, ['analysis']),
        scale('candidate', 2),
        shift(67),
        scale('stable', 1),
        bake(1000, ['analysis']),
        scale('candidate', 3),
        shift(100),
        scale('stable', 0),
        retire('stable'),
      ],
    },
    { name: 'one replica: surge to 2, shift 100, scale stable 0', stable: 1, replicas: 1, steps: [provision(1), shift(100), scale('stable', 0), retire('stable')] },
    {
      name: 'batchSize larger than replicas is clamped: a single batch',
      stable: 3,
      replicas: 3,
      options: { batchSize: 5, pause: 1000 },
      steps: [provision(3), shift(100), scale('stable', 0), retire('stable')],
    },
    {
      name: 'batches of 2',
      stable: 4,
      replicas: 4,
      options: { batchSize: 2, pause: 1000 },
      steps: [provision(2), shift(50), scale('stable', 2), bake(1000), scale('candidate', 4), shift(100), scale('stable', 0), retire('stable')],
    },
    {
      name: 'scale up 2 → 4: stable stays whole until the candidate passes the target',
      stable: 2,
      replicas: 4,
      steps: [
        provision(1),
        shift(33),
        scale('candidate', 2),
        shift(50),
        scale('candidate', 3),
        shift(75),
        scale('stable', 1),
        scale('candidate', 4),
        shift(100),
        scale('stable', 0),
        retire('stable'),
      ],
    },
    {
      name: 'scale up 3 → 6 in batches of 2',
      stable: 3,
      replicas: 6,
      options: { batchSize: 2 },
      steps: [provision(2), shift(40), scale('candidate', 4), shift(67), scale('stable', 2), scale('candidate', 6), shift(100), scale('stable', 0), retire('stable')],
    },
    {
      name: 'scale down 4 → 2: stable shrinks first to make room, never below 2',
      stable: 4,
      replicas: 2,
      steps: [scale('stable', 2), provision(1), shift(50), scale('stable', 1), scale('candidate', 2), shift(100), scale('stable', 0), retire('stable')],
    },
    {
      name: 'maxSurge 0, maxUnavailable 1: remove first, then add',
      stable: 3,
      replicas: 3,
      options: { maxSurge: 0, maxUnavailable: 1 },
      steps: [scale('stable', 2), provision(1), shift(50), scale('stable', 1), scale('candidate', 2), shift(100), scale('stable', 0), scale('candidate', 3), retire('stable')],
    },
    {
      name: 'smoke through the test route on the first batch, every hook',
      stable: 2,
      replicas: 2,
      gates: ['smoke'],
      hooks: ['preDeploy', 'postProvision', 'preShift', 'postShift', 'postDeploy'],
      steps: [
        hook('preDeploy'),
        provision(1),
        hook('postProvision'),
        testRoute('candidate'),
        gate('smoke'),
        hook('preShift'),
        shift(50),
        hook('postShift'),
        scale('stable', 1),
        scale('candidate', 2),
        hook('preShift'),
        shift(100),
        hook('postShift'),
        scale('stable', 0),
        testRoute(null),
        hook('postDeploy'),
        retire('stable'),
      ],
    },
  ];

  it.each(cases)('$name', ({ stable, replicas, options, gates, hooks, steps }) => {
    expect(rolling.plan(planInput({ stable, replicas, options, gates, hooks }))).toEqual({ strategy: 'rolling', steps });
  });

  it('keeps both revisions weighted while both serve, even with hundreds of instances', () => {
    const plan = rolling.plan(planInput<Partial<RollingOptions>>({ stable: 300, replicas: 300, options: {} }));
    const weights = plan.steps.flatMap((s) => (s.kind === 'shiftTraffic' ? [s.weights.candidate] : []));
    // Repeated weights (1% while the candidate has 1–4 instances …) are no router call.
    expect(weights).toEqual([...new Set(weights)].sort((a, b) => a - b));
    expect(plan.steps.filter((s) => s.kind === 'scale' && s.role === 'candidate')).toHaveLength(299);
    expect(weights[0]).toBe(1);
    expect(weights.at(-2)).toBe(99);
    expect(weights.at(-1)).toBe(100);
  });

  it('needs batches, and weighted traffic or a platform that rolls in place', () => {
    expect(rolling.requires).toEqual(['batches']);
    const caps = { ...ALL_CAPABILITIES, weightedTraffic: false };
    expect(rolling.validate!(undefined, { replicas: 3, capabilities: caps }).map((i) => i.message)).toEqual([expect.stringMatching(/needs weightedTraffic .* or a platform that rolls in place/)]);
    expect(rolling.validate!(undefined, { replicas: 3, capabilities: { ...caps, rollsInPlace: true } })).toEqual([]);
  });
});

describe('rolling validate', () => {
  const check = (options: Partial<RollingOptions> | undefined, replicas: number) => rolling.validate!(options, { replicas, capabilities: ALL_CAPABILITIES });

  it.each([
    { name: 'defaults', options: undefined, replicas: 3, paths: [] },
    { name: 'batchSize above replicas', options: { batchSize: 10 }, replicas: 3, paths: [] },
    { name: 'maxSurge 0 with maxUnavailable 1', options: { maxSurge: 0, maxUnavailable: 1 }, replicas: 3, paths: [] },
    { name: 'maxSurge 0 and maxUnavailable 0 can never progress', options: { maxSurge: 0, maxUnavailable: 0 }, replicas: 3, paths: ['maxSurge'] },
    { name: 'one replica without surge means downtime', options: { maxSurge: 0, maxUnavailable: 1 }, replicas: 1, paths: ['maxSurge'] },
  ])('$name', ({ options, replicas, paths }) => {
    const problems = check(options, replicas);
    expect(problems.map((p) => p.path)).toEqual(paths);
    for (const p of problems) expect(p.message).toMatch(/set maxSurge: 1/);
  });

  it('plan() refuses limits that cannot progress instead of looping', () => {
    expect(() => rolling.plan(planInput({ stable: 3, replicas: 3, options: { maxSurge: 0 } }))).toThrow(ConfigError);
  });

  it('defaults: batch 1, surge = batch, unavailable 0; batch clamped to replicas', () => {
    expect(rollingLimits(undefined, 3)).toEqual({ batchSize: 1, maxSurge: 1, maxUnavailable: 0 });
    expect(rollingLimits({ batchSize: 8 }, 3)).toEqual({ batchSize: 3, maxSurge: 3, maxUnavailable: 0 });
    expect(rollingLimits({ batchSize: 2, maxSurge: 0, maxUnavailable: 2 }, 5)).toEqual({ batchSize: 2, maxSurge: 0, maxUnavailable: 2 });
  });
});
