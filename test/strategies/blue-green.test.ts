import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/index.js';
import { blueGreen, type BlueGreenOptions } from '../../strategies/blue-green.js';
import { ALL_CAPABILITIES, bake, gate, hook, NO_TEST_ROUTE, planInput, provision, retire, shift, testRoute } from './fixtures.js';

const TEN_MINUTES = 600_000;

describe('blue-green plan', () => {
  const cases: { name: string; options?: Partial<BlueGreenOptions>; gates?: string[]; noTestRoute?: boolean; stable?: number; replicas?: number; steps: Step[] }[] = [
    { name: 'defaults: switch at once, keep stable 10 minutes', steps: [provision(3), shift(100), retire('stable', TEN_MINUTES)] },
    {
      name: 'smoke through the test route, removed before the switch',
      gates: ['smoke'],
      steps: [provision(3), testRoute('candidate'), gate('smoke'), testRoute(null), shift(100), retire('stable', TEN_MINUTES)],
    },
    { name: 'testRoute: false still smoke-tests, without the route', options: { testRoute: false }, gates: ['smoke'], steps: [provision(3), gate('smoke'), shift(100), retire('stable', TEN_MINUTES)] },
    { name: 'provider without a test route', noTestRoute: true, gates: ['smoke'], steps: [provision(3), gate('smoke'), shift(100), retire('stable', TEN_MINUTES)] },
    {
      name: 'bake with the analysis gate after the switch',
      options: { bake: 120_000 },
      gates: ['analysis'],
      steps: [provision(3), shift(100), bake(120_000, ['analysis']), retire('stable', TEN_MINUTES)],
    },
    { name: 'bake with options.analysis', options: { bake: 1000, analysis: ['errors'] }, steps: [provision(3), shift(100), bake(1000, ['errors']), retire('stable', TEN_MINUTES)] },
    { name: 'bake 0 is no bake', options: { bake: 0 }, gates: ['analysis'], steps: [provision(3), shift(100), retire('stable', TEN_MINUTES)] },
    { name: 'keepPrevious 0 retires right away', options: { keepPrevious: 0 }, steps: [provision(3), shift(100), retire('stable')] },
    { name: 'keepPrevious 1h', options: { keepPrevious: 3_600_000 }, steps: [provision(3), shift(100), retire('stable', 3_600_000)] },
    { name: 'full capacity when scaling up', stable: 2, replicas: 4, steps: [provision(4), shift(100), retire('stable', TEN_MINUTES)] },
    { name: 'one replica', stable: 1, replicas: 1, steps: [provision(1), shift(100), retire('stable', TEN_MINUTES)] },
  ];

  it.each(cases)('$name', ({ options, gates, noTestRoute, stable, replicas, steps }) => {
    const input = planInput({ options, gates, stable, replicas, capabilities: noTestRoute ? NO_TEST_ROUTE : ALL_CAPABILITIES });
    expect(blueGreen.plan(input)).toEqual({ strategy: 'blue-green', steps });
  });

  it('every hook in order', () => {
    const input = planInput<Partial<BlueGreenOptions>>({ options: { bake: 1000 }, gates: ['smoke'], hooks: ['preDeploy', 'postProvision', 'preShift', 'postShift', 'postDeploy', 'onRollback'] });
    expect(blueGreen.plan(input).steps).toEqual([
      hook('preDeploy'),
      provision(3),
      hook('postProvision'),
      testRoute('candidate'),
      gate('smoke'),
      testRoute(null),
      hook('preShift'),
      shift(100),
      hook('postShift'),
      bake(1000),
      hook('postDeploy'),
      retire('stable', TEN_MINUTES),
    ]);
  });

  it('moves traffic in exactly one router call', () => {
    const plan = blueGreen.plan(planInput({ options: { bake: 1000 }, gates: ['smoke', 'analysis'] }));
    expect(plan.steps.filter((s) => s.kind === 'shiftTraffic')).toEqual([shift(100)]);
  });

  it('needs an instant switch', () => {
    expect(blueGreen.requires).toEqual(['instantSwitch']);
  });

  it('validate: testRoute: true on a provider without one is an error with the fix', () => {
    expect(blueGreen.validate!({ testRoute: true }, { replicas: 2, capabilities: NO_TEST_ROUTE })).toEqual([{ path: 'testRoute', message: expect.stringContaining('testRoute: false') }]);
    expect(blueGreen.validate!({ testRoute: true }, { replicas: 2, capabilities: ALL_CAPABILITIES })).toEqual([]);
    expect(blueGreen.validate!(undefined, { replicas: 2, capabilities: NO_TEST_ROUTE })).toEqual([]);
  });
});

describe('vocabulary', () => {
  it('blue and green appear only in the blue-green module', () => {
    const dir = new URL('../../strategies/', import.meta.url);
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && f !== 'blue-green.ts')
      .filter((f) => /\b(blue|green)\b/i.test(readFileSync(new URL(f, dir), 'utf8').replace(/blue-green|blueGreen/g, '')));
    expect(offenders).toEqual([]);
  });
});
