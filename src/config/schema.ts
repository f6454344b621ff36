import { z } from 'zod';
import { CHECK_TYPES } from '../checks/registry.js';
import { HOOK_POINTS } from '../core/plan.js';
import type { Strategy } from '../core/strategy.js';
import { PROVIDER_TYPES } from '../providers/registry.js';
import { stateSchema } from '../state/schema.js';
import { notifySchema } from '../notify/schema.js';
import { duration, fn, intBetween, nonEmptyString, show } from './schema-helpers.js';

/**
 * The one source of truth for configuration: validation, TypeScript types (`ZddConfig`) and the
 * README's config reference all come from here.
 */

const providerTypes = Object.keys(PROVIDER_TYPES);
export const providerSchema = z.discriminatedUnion(
  'type',
  Object.values(PROVIDER_TYPES).map((p) => p.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: (iss) => (iss.code === 'invalid_union' ? `type must be one of ${providerTypes.map((t) => `"${t}"`).join(', ')}` : undefined) },
);

const checkTypes = Object.keys(CHECK_TYPES);
export const checkSchema = z.discriminatedUnion(
  'type',
  Object.values(CHECK_TYPES).map((c) => c.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: (iss) => (iss.code === 'invalid_union' ? `type must be one of ${checkTypes.map((t) => `"${t}"`).join(', ')}` : undefined) },
);

export const gateSchema = z.strictObject({
  checks: z.array(checkSchema).min(1, { error: 'a gate needs at least one check' }).describe('Checks of the gate; they run concurrently and all must pass'),
  description: z.string().optional().describe('Shown in output'),
});

/** `pause: "30s"` bakes; `pause: {}` (or `pause: "manual"`) waits for `zdd promote`. */
const pauseSchema = z.union([duration(), z.literal('manual'), z.strictObject({})], {
  error: (iss) => `must be a duration like "30s", "manual" or {} (wait for zdd promote), got ${show(iss.input)}`,
});

export const canaryStepSchema = z.strictObject({
  weight: intBetween(0, 100, 'Percent of production traffic on the candidate after this step'),
  pause: pauseSchema.optional().describe('Bake after the shift: a duration, or "manual" to wait for zdd promote'),
});

export const canaryOptionsSchema = z.strictObject({
  steps: z.array(canaryStepSchema).min(1, { error: 'needs at least one step, e.g. [{ weight: 10, pause: "30s" }]' }).describe('Weights in order; a final shift to 100 is added when the last step is below 100'),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every bake (default ["analysis"] when that gate exists)'),
});

export const linearOptionsSchema = z.strictObject({
  stepPercent: intBetween(1, 100, 'Percent added at each step (Linear10PercentEvery1Minute → 10)'),
  interval: duration('Bake between steps'),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every bake (default ["analysis"] when that gate exists)'),
});

export const blueGreenOptionsSchema = z.strictObject({
  testRoute: z.boolean().optional().describe('Smoke-test the candidate through the header route before the switch (default true when the provider has one)'),
  bake: duration('Bake after the switch, with analysis (default 0)').optional(),
  keepPrevious: duration('How long the previous stable keeps running after the switch, so rollback is instant (default 10m)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during the bake (default ["analysis"] when that gate exists)'),
});

export const rollingOptionsSchema = z.strictObject({
  batchSize: intBetween(1, 1000, 'Instances replaced per batch (default 1)').optional(),
  maxSurge: intBetween(0, 1000, 'Extra instances allowed above the replica count during the roll (default batchSize)').optional(),
  maxUnavailable: intBetween(0, 1000, 'Instances that may be missing below the replica count (default 0)').optional(),
  pause: duration('Bake between batches, with analysis (default 0)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during each pause (default ["analysis"] when that gate exists)'),
});

export const BUILT_IN_STRATEGIES = ['canary', 'linear', 'blue-green', 'rolling'] as const;

export const strategiesSchema = z.strictObject({
  default: nonEmptyString('Strategy used when --strategy is not given (default "canary")').optional(),
  canary: canaryOptionsSchema.optional(),
  linear: linearOptionsSchema.optional(),
  'blue-green': blueGreenOptionsSchema.optional(),
  rolling: rollingOptionsSchema.optional(),
  plugins: z.record(z.string(), z.custom<Strategy>((v) => !!v && typeof v === 'object' && typeof (v as Strategy).plan === 'function' && typeof (v as Strategy).rollback === 'function', {
    error: 'must be a strategy object with plan() and rollback() functions',
  })).optional().describe('Custom strategies by name'),
});

export type HookFunction = (ctx: { env: Record<string, string>; signal: AbortSignal }) => unknown | Promise<unknown>;

export const hookSchema = z.union(
  [
    nonEmptyString(),
    z.strictObject({
      run: z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)]).describe('Shell command, or argv array run without a shell'),
      timeout: duration('Kill the whole process tree after this long (default 5m)').optional(),
      env: z.record(z.string(), z.string()).optional(),
      continueOnError: z.boolean().optional().describe('Warn instead of failing the deploy (never for preShift/preDeploy)'),
    }),
    fn<HookFunction>(),
  ],
  { error: (iss) => `must be a command string, { run, timeout } or a function, got ${show(iss.input)}` },
).meta({ id: 'hook' });

const HOOK_DOCS: Record<(typeof HOOK_POINTS)[number], string> = {
  preDeploy: 'Before anything changes (migrations, notifications). A failure ends the deploy before any other step (exit 1, production untouched).',
  postProvision: 'After the candidate is running and healthy, before it gets any traffic.',
  preShift: 'Before every traffic shift.',
  postShift: 'After every verified traffic shift.',
  postDeploy: 'After the candidate holds 100% and the last gate passed, before stable is retired.',
  onRollback: 'After traffic is back on stable during a rollback (failures only warn: the rollback goes on).',
};

/**
 * Hooks: a command string (run by the shell), \`{ run, timeout, env, continueOnError }\`, a function,
 * or a list of them. ZDD_SERVICE, ZDD_REVISION, ZDD_STABLE_REVISION, ZDD_STEP, ZDD_TARGET_URL … are set.
 */
export const hooksSchema = z.strictObject(
  Object.fromEntries(HOOK_POINTS.map((p) => [p, z.union([hookSchema, z.array(hookSchema)]).optional().describe(HOOK_DOCS[p])])) as Record<
    (typeof HOOK_POINTS)[number],
    z.ZodOptional<z.ZodUnion<[typeof hookSchema, z.ZodArray<typeof hookSchema>]>>
  >,
);

export const healthSchema = z.strictObject({
  timeout: duration('How long a new revision may take to become healthy (default 60s)').optional(),
});

const baseShape = {
  service: z
    .string({ error: 'is required: the name of the service, e.g. service: "web"' })
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, { error: (iss) => `must be letters, digits, ".", "_" or "-" (max 63), got ${show(iss.input)}` })
    .describe('Name of what this config deploys; the lock and the deployment records are per service'),
  provider: providerSchema,
  replicas: intBetween(1, 1000, 'Instances per revision (default 1)').optional(),
  state: stateSchema.optional(),
  strategies: strategiesSchema.optional().describe('Strategy options; each section is used when that strategy runs'),
  health: healthSchema.optional().describe('Health of new revisions (what is probed is the provider\'s: an HTTP path locally, target health on AWS)'),
  drain: duration('Time a revision at weight 0 keeps serving in-flight requests before it is stopped (default 5s)').optional(),
  hooks: hooksSchema.optional().describe('Commands or functions at lifecycle points: a command string, { run, timeout, env, continueOnError }, a function, or a list of them; they get ZDD_* variables'),
  gates: z.record(z.string(), gateSchema).optional().describe('Named gates: "smoke" runs before traffic, "analysis" during bakes'),
  notify: notifySchema.optional(),
};

export const configSchema = z.strictObject({
  ...baseShape,
  environments: z.record(z.string(), z.record(z.string(), z.unknown())).optional().describe('Overrides per --env name, merged over the top level'),
});

export type ZddConfigInput = z.input<typeof configSchema>;
export type ZddConfig = z.output<typeof configSchema>;
export type GateConfig = z.output<typeof gateSchema>;
export type CheckConfig = z.output<typeof checkSchema>;
export type HookConfig = z.output<typeof hookSchema>;
