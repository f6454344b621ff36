import { DEFAULT_RELEASE_PAUSE_MS, DEFAULT_RELEASE_STEPS, duration, flagRampSteps, flagRestoreSteps, intBetween, nonEmptyString, z } from '../src/index.js';
import type { PlanInput, Step, Strategy } from '../src/index.js';
import { blueGreen, blueGreenOptionsSchema } from './blue-green.js';
import { canary, canaryOptionsSchema } from './canary.js';
import { linear, linearOptionsSchema } from './linear.js';
import { analysisGates, rollbackPlan } from './plan-builders.js';
import { rolling, rollingOptionsSchema } from './rolling.js';

const CODE_DEPLOYS = { canary, linear, 'blue-green': blueGreen, rolling } as const;
type CodeDeploy = keyof typeof CODE_DEPLOYS;

export const hybridFlagRampSchema = z.strictObject({
  flag: nonEmptyString('Flag to ramp after the code deploy (it must exist on the flag service of config `flags`)'),
  steps: z.array(intBetween(0, 100)).min(1, { error: 'needs at least one percentage, e.g. [10, 50, 100]' }).optional().describe('Rollout percentages in order (default [10, 50, 100])'),
  pause: duration('Bake after each flag step, with analysis (default 5m)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every flag bake (default ["analysis"] when that gate exists)'),
});

/** `strategies.hybrid` in the config. */
export const hybridOptionsSchema = z.strictObject({
  deploy: z.enum(['canary', 'linear', 'blue-green', 'rolling']).optional().describe('Strategy of the code deploy (default "rolling"); its options are the section of the same name inside this one'),
  canary: canaryOptionsSchema.optional().describe('Options of a canary code deploy'),
  linear: linearOptionsSchema.optional().describe('Options of a linear code deploy'),
  'blue-green': blueGreenOptionsSchema.optional().describe('Options of a blue-green code deploy'),
  rolling: rollingOptionsSchema.optional().describe('Options of a rolling code deploy'),
  flags: z
    .array(hybridFlagRampSchema)
    .min(1, { error: 'needs at least one flag ramp, e.g. [{ flag: "new-checkout", steps: [10, 50, 100] }]' })
    .describe('Flag ramps, run in order once the code holds 100%, before the previous revision is retired'),
});

export type HybridOptions = z.output<typeof hybridOptionsSchema>;

/** Steps that close a code deploy; they wait until every flag ramp has passed (promise 7). */
function isClosing(step: Step): boolean {
  return (step.kind === 'retire' && step.role === 'stable') || (step.kind === 'hook' && step.hook === 'postDeploy') || (step.kind === 'testRoute' && step.role === null);
}

/**
 * Hybrid, as a checklist:
 *   1. deploy the code with a traffic strategy (rolling by default), flags untouched: it ships dark;
 *   2. ramp each flag in turn, baking with analysis after each step;
 *   3. only then close the code deploy (drop the test route, postDeploy, retire the previous stable).
 * Rollback from any step: every flag the run changed goes back to its state before it, first;
 * then traffic goes back to stable, as for the code deploy alone.
 */
export const hybrid: Strategy<Partial<HybridOptions> | undefined> = {
  name: 'hybrid',
  description: 'Deploy the code with a traffic strategy, then ramp feature flags: one plan, one rollback (flags first)',
  requires: [],
  optionsSchema: hybridOptionsSchema,
  validate(options, ctx) {
    if (!options?.flags?.length) {
      return [{ path: 'flags', message: 'needs at least one flag ramp, e.g. strategies.hybrid: { deploy: "rolling", flags: [{ flag: "new-checkout" }] }' }];
    }
    const name: CodeDeploy = options.deploy ?? 'rolling';
    const inner: Strategy = CODE_DEPLOYS[name];
    const missing = inner.requires.filter((c) => !ctx.capabilities[c]);
    const problems = missing.length ? [{ path: 'deploy', message: `"${name}" needs ${missing.join(', ')}, which the provider cannot do; pick another code deploy strategy` }] : [];
    const innerProblems = inner.validate?.(options[name] as never, ctx) ?? [];
    return [...problems, ...innerProblems.map((p) => ({ path: `${name}${p.path ? `.${p.path}` : ''}`, message: p.message }))];
  },
  plan(input) {
    const options = input.options ?? {};
    const name: CodeDeploy = options.deploy ?? 'rolling';
    const inner: Strategy = CODE_DEPLOYS[name];
    const code = inner.plan({ ...input, options: options[name] }).steps;
    let cut = code.length;
    while (cut > 0 && isClosing(code[cut - 1]!)) cut--;
    const ramps = (options.flags ?? []).flatMap((f) =>
      flagRampSteps(f.flag, { steps: f.steps ?? DEFAULT_RELEASE_STEPS, pauseMs: f.pause ?? DEFAULT_RELEASE_PAUSE_MS, analysis: analysisGates(input as PlanInput<unknown>, f.analysis) }),
    );
    return { strategy: 'hybrid', steps: [...code.slice(0, cut), ...ramps, ...code.slice(cut)] };
  },
  rollback(input) {
    return { strategy: 'hybrid', steps: [...flagRestoreSteps(input.record), ...rollbackPlan('hybrid', input).steps] };
  },
};
