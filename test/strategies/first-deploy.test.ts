import { describe, expect, it } from 'vitest';
import type { HookPoint, Step } from '../../src/index.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { ALL_CAPABILITIES, gate, hook, NO_TEST_ROUTE, planInput, provision, shift, testRoute } from './fixtures.js';

const ALL_HOOKS: HookPoint[] = ['preDeploy', 'postProvision', 'preShift', 'postShift', 'postDeploy', 'onRollback'];

/** No stable: start, smoke, switch. No bakes (nothing to compare with or fall back to), no retire. */
describe.each(Object.keys(BUILT_IN_STRATEGIES))('first deploy with %s', (name) => {
  const strategy = BUILT_IN_STRATEGIES[name];
  // Options that would add bakes, pauses and batches on a normal deploy must not matter here.
  const options = { canary: { steps: [{ weight: 10, pause: 'manual' }] }, linear: { stepPercent: 10, interval: 60_000 }, 'blue-green': { bake: 60_000 }, rolling: { batchSize: 1, pause: 60_000 } }[name];

  it.each([
    { case: 'plain', hooks: [], gates: [], capabilities: ALL_CAPABILITIES, steps: [provision(4), shift(100)] },
    { case: 'analysis gate has nothing to bake against', hooks: [], gates: ['analysis'], capabilities: ALL_CAPABILITIES, steps: [provision(4), shift(100)] },
    { case: 'smoke through the test route', hooks: [], gates: ['smoke'], capabilities: ALL_CAPABILITIES, steps: [provision(4), testRoute('candidate'), gate('smoke'), testRoute(null), shift(100)] },
    { case: 'smoke without a test route', hooks: [], gates: ['smoke'], capabilities: NO_TEST_ROUTE, steps: [provision(4), gate('smoke'), shift(100)] },
    {
      case: 'every hook',
      hooks: ALL_HOOKS,
      gates: ['smoke'],
      capabilities: ALL_CAPABILITIES,
      steps: [
        hook('preDeploy'),
        provision(4),
        hook('postProvision'),
        testRoute('candidate'),
        gate('smoke'),
        testRoute(null),
        hook('preShift'),
        shift(100),
        hook('postShift'),
        hook('postDeploy'),
      ],
    },
  ] as { case: string; hooks: HookPoint[]; gates: string[]; capabilities: typeof ALL_CAPABILITIES; steps: Step[] }[])('$case', ({ hooks, gates, capabilities, steps }) => {
    expect(strategy.plan(planInput({ stable: null, replicas: 4, options, hooks, gates, capabilities }))).toEqual({ strategy: name, steps });
  });
});
