import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/index.js';
import { linear, linearSteps, type LinearOptions } from '../../strategies/linear.js';
import { ALL_CAPABILITIES, bake, hook, planInput, provision, retire, shift } from './fixtures.js';

describe('linear plan', () => {
  const cases: { name: string; options: Partial<LinearOptions> | undefined; gates?: string[]; steps: Step[] }[] = [
    {
      name: '33% → 33, 66, 99, 100, no bake after 100',
      options: { stepPercent: 33, interval: 60_000 },
      steps: [provision(3), shift(33), bake(60_000), shift(66), bake(60_000), shift(99), bake(60_000), shift(100), retire('stable')],
    },
    {
      name: '50% with analysis',
      options: { stepPercent: 50, interval: 120_000 },
      gates: ['analysis'],
      steps: [provision(3), shift(50), bake(120_000, ['analysis']), shift(100), retire('stable')],
    },
    { name: '100%: a single switch', options: { stepPercent: 100, interval: 60_000 }, steps: [provision(3), shift(100), retire('stable')] },
    {
      name: 'options.analysis',
      options: { stepPercent: 60, interval: 1000, analysis: ['p99'] },
      steps: [provision(3), shift(60), bake(1000, ['p99']), shift(100), retire('stable')],
    },
    {
      name: 'default 10% every minute without a section',
      options: undefined,
      steps: [provision(3), ...[10, 20, 30, 40, 50, 60, 70, 80, 90].flatMap((w) => [shift(w), bake(60_000)]), shift(100), retire('stable')],
    },
  ];

  it.each(cases)('$name', ({ options, gates, steps }) => {
    expect(linear.plan(planInput({ options, gates }))).toEqual({ strategy: 'linear', steps });
  });

  it('has hooks around every shift', () => {
    const plan = linear.plan(planInput<Partial<LinearOptions>>({ options: { stepPercent: 50, interval: 1000 }, hooks: ['preShift', 'postShift'] }));
    expect(plan.steps).toEqual([provision(3), hook('preShift'), shift(50), hook('postShift'), bake(1000), hook('preShift'), shift(100), hook('postShift'), retire('stable')]);
  });

  it.each([
    { p: 1, weights: 100 },
    { p: 7, weights: 15 },
    { p: 33, weights: 4 },
    { p: 99, weights: 2 },
  ])('stepPercent $p gives $weights steps ending at 100', ({ p, weights }) => {
    const steps = linearSteps(p, 1000);
    expect(steps).toHaveLength(weights);
    expect(steps.at(-1)).toEqual({ weight: 100 });
    expect(steps.slice(0, -1).every((s, i) => s.weight === p * (i + 1) && s.pause === 1000)).toBe(true);
  });

  it('validate flags a stepPercent that would never reach 100', () => {
    expect(linear.validate!({ stepPercent: 0, interval: 1000 }, { replicas: 1, capabilities: ALL_CAPABILITIES })).toEqual([{ path: 'stepPercent', message: expect.stringContaining('1–100') }]);
    expect(linear.validate!({}, { replicas: 1, capabilities: ALL_CAPABILITIES })).toEqual([]);
  });
});
