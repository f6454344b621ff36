import { duration, nonEmptyString, z } from '../src/index.js';
import type { PlanInput, Strategy } from '../src/index.js';
import { analysisGates, bake, finish, firstDeployPlan, hook, provisionCandidate, rollbackPlan, shift, smokeTest } from './plan-builders.js';

/** `strategies.blue-green` in the config. */
export const blueGreenOptionsSchema = z.strictObject({
  testRoute: z.boolean().optional().describe('Smoke-test the candidate through the header route before the switch (default true when the provider has one)'),
  bake: duration('Bake after the switch, with analysis (default 0)').optional(),
  keepPrevious: duration('How long the previous stable keeps running after the switch, so rollback is instant (default 10m)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during the bake (default ["analysis"] when that gate exists)'),
});

/** `strategies.blue-green` as the config schema parses it (durations in ms). */
export type BlueGreenOptions = z.output<typeof blueGreenOptionsSchema>;

/** How long the previous stable keeps running after the switch when `keepPrevious` is not set. */
export const DEFAULT_KEEP_PREVIOUS_MS = 10 * 60_000;

/**
 * Blue-green, as a checklist. The live slot (blue, zdd's stable) keeps 100% while the idle slot
 * (green, the candidate) is started at full capacity:
 *   1. start green beside blue at full size and wait until healthy;
 *   2. smoke-test green through the test route, then remove the route;
 *   3. switch 100% to green in one router call;
 *   4. bake with analysis (optional): blue still runs, so a failure switches straight back;
 *   5. postDeploy, and keep blue for `keepPrevious` so a rollback stays one router call.
 */
export const blueGreen: Strategy<Partial<BlueGreenOptions> | undefined> = {
  name: 'blue-green',
  description: 'Start the candidate at full size beside stable, smoke-test it, then switch all traffic at once',
  requires: ['instantSwitch'],
  optionsSchema: blueGreenOptionsSchema,
  validate(options, ctx) {
    if (options?.testRoute === true && !ctx.capabilities.testRoute) {
      return [{ path: 'testRoute', message: 'the provider has no test route to smoke-test the candidate through; set testRoute: false (smoke then runs against its instances) or use a provider with a header route' }];
    }
    return [];
  },
  plan(input) {
    if (!input.stable) return firstDeployPlan('blue-green', input);
    const options = input.options ?? {};
    return {
      strategy: 'blue-green',
      steps: [
        ...hook(input, 'preDeploy'),
        ...provisionCandidate(input, input.replicas),
        ...smokeTest(input, { useTestRoute: useTestRoute(input), keepTestRoute: false }),
        ...shift(input, 100),
        ...bake(options.bake, analysisGates(input, options.analysis)),
        ...finish(input, { testRoute: false, retireAfterMs: options.keepPrevious ?? DEFAULT_KEEP_PREVIOUS_MS }),
      ],
    };
  },
  rollback(input) {
    return rollbackPlan('blue-green', input);
  },
};

function useTestRoute(input: PlanInput<Partial<BlueGreenOptions> | undefined>): boolean {
  return input.options?.testRoute !== false && input.capabilities.testRoute;
}
