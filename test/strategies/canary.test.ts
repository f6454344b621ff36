import { describe, expect, it } from 'vitest';
import type { HookPoint, Step } from '../../src/index.js';
import { canary, type CanaryOptions } from '../../strategies/canary.js';
import { bake, gate, hook, manual, NO_TEST_ROUTE, planInput, provision, retire, shift, testRoute } from './fixtures.js';

const ALL_HOOKS: HookPoint[] = ['preDeploy', 'postProvision', 'preShift', 'postShift', 'postDeploy', 'onRollback'];

describe('canary plan', () => {
  const cases: { name: string; input: Parameters<typeof canary.plan>[0]; steps: Step[] }[] = [
    {
      name: 'default steps when the config has no canary section',
      input: planInput<Partial<CanaryOptions> | undefined>({ options: undefined }),
      steps: [provision(3), shift(10), bake(30_000), shift(50), bake(30_000), shift(100), retire('stable')],
    },
    {
      name: 'default steps when the engine passes an empty section',
      input: planInput<Partial<CanaryOptions>>({ options: {} }),
      steps: [provision(3), shift(10), bake(30_000), shift(50), bake(30_000), shift(100), retire('stable')],
    },
    {
      name: 'every hook, smoke and analysis gates: the test route stays on until stable is retired',
      input: planInput<Partial<CanaryOptions>>({ options: {}, hooks: ALL_HOOKS, gates: ['smoke', 'analysis'] }),
      steps: [
        hook('preDeploy'),
        provision(3),
        hook('postProvision'),
        testRoute('candidate'),
        gate('smoke'),
        hook('preShift'),
        shift(10),
        hook('postShift'),
        bake(30_000, ['analysis']),
        hook('preShift'),
        shift(50),
        hook('postShift'),
        bake(30_000, ['analysis']),
        hook('preShift'),
        shift(100),
        hook('postShift'),
        testRoute(null),
        hook('postDeploy'),
        retire('stable'),
      ],
    },
    {
      name: 'smoke without a test route runs the gate alone',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 25, pause: 5000 }] }, gates: ['smoke'], capabilities: NO_TEST_ROUTE }),
      steps: [provision(3), gate('smoke'), shift(25), bake(5000), shift(100), retire('stable')],
    },
    {
      name: 'options.analysis replaces the default analysis gate',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 20, pause: 60_000 }], analysis: ['latency', 'errors'] }, gates: ['analysis'] }),
      steps: [provision(3), shift(20), bake(60_000, ['latency', 'errors']), shift(100), retire('stable')],
    },
    {
      name: 'steps not ascending are planned literally',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 50, pause: 1000 }, { weight: 20, pause: 1000 }] } }),
      steps: [provision(3), shift(50), bake(1000), shift(20), bake(1000), shift(100), retire('stable')],
    },
    {
      name: 'weight 100 first: no second shift to 100',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 100, pause: 60_000 }] } }),
      steps: [provision(3), shift(100), bake(60_000), retire('stable')],
    },
    {
      name: 'weight 100 then lower: planned literally, then back to 100',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 100 }, { weight: 40, pause: 1000 }] } }),
      steps: [provision(3), shift(100), shift(40), bake(1000), shift(100), retire('stable')],
    },
    {
      name: 'weight 0: a bake with no production traffic (no router call)',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 0, pause: 60_000 }, { weight: 50, pause: 1000 }] }, gates: ['smoke', 'analysis'] }),
      steps: [provision(3), testRoute('candidate'), gate('smoke'), bake(60_000, ['analysis']), shift(50), bake(1000, ['analysis']), shift(100), testRoute(null), retire('stable')],
    },
    {
      name: 'weight 0 after traffic: goes back to 0, bakes, then on',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 30 }, { weight: 0, pause: 1000 }] } }),
      steps: [provision(3), shift(30), shift(0), bake(1000), shift(100), retire('stable')],
    },
    {
      name: 'a repeated weight is only its pause',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 20, pause: 1000 }, { weight: 20, pause: 'manual' }, { weight: 100 }] } }),
      steps: [provision(3), shift(20), bake(1000), manual, shift(100), retire('stable')],
    },
    {
      name: 'pause {} waits for promote; pause 0 is no pause',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 10, pause: {} }, { weight: 60, pause: 0 }] } }),
      steps: [provision(3), shift(10), manual, shift(60), shift(100), retire('stable')],
    },
    {
      name: 'a manual pause at 100% holds stable until promote',
      input: planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 10, pause: 1000 }, { weight: 100, pause: 'manual' }] } }),
      steps: [provision(3), shift(10), bake(1000), shift(100), manual, retire('stable')],
    },
    {
      name: 'the candidate starts at the configured size (scale up)',
      input: planInput<Partial<CanaryOptions>>({ stable: 2, replicas: 5, options: { steps: [{ weight: 50 }] } }),
      steps: [provision(5), shift(50), shift(100), retire('stable')],
    },
    {
      name: 'one replica',
      input: planInput<Partial<CanaryOptions>>({ stable: 1, replicas: 1, options: { steps: [{ weight: 50, pause: 1000 }] } }),
      steps: [provision(1), shift(50), bake(1000), shift(100), retire('stable')],
    },
  ];

  it.each(cases)('$name', ({ input, steps }) => {
    expect(canary.plan(input)).toEqual({ strategy: 'canary', steps });
  });

  it('is pure: same input, same plan, input untouched', () => {
    const input = planInput<Partial<CanaryOptions>>({ options: { steps: [{ weight: 10, pause: 1000 }] }, hooks: ALL_HOOKS, gates: ['smoke'] });
    const copy = structuredClone(input);
    const first = canary.plan(input);
    expect(canary.plan(input)).toEqual(first);
    expect(input).toEqual(copy);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });
});

describe('canary validate', () => {
  const ctx = { replicas: 3, capabilities: NO_TEST_ROUTE };
  it.each([
    { name: 'no section', options: undefined, problems: [] },
    { name: 'defaults', options: {}, problems: [] },
    { name: 'odd but allowed steps', options: { steps: [{ weight: 50 }, { weight: 0 }, { weight: 0 }] }, problems: [] },
    { name: 'empty steps', options: { steps: [] }, problems: ['steps'] },
    { name: 'weight out of range (schema bypassed)', options: { steps: [{ weight: 10 }, { weight: 120 }] }, problems: ['steps[1].weight'] },
  ])('$name', ({ options, problems }) => {
    expect(canary.validate!(options as Partial<CanaryOptions>, ctx).map((p) => p.path)).toEqual(problems);
  });
});
