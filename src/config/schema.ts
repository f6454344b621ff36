import { z } from 'zod';
import { CHECK_TYPES } from '../checks/registry.js';
import { HOOK_POINTS } from '../core/plan.js';
import type { Strategy } from '../core/strategy.js';
import { PROVIDER_TYPES } from '../providers/registry.js';
import { flagsSchema } from '../flags/schema.js';
import { stateSchema } from '../state/schema.js';
import { ON_INCONCLUSIVE } from '../checks/on-inconclusive.js';
import { notifySchema } from '../notify/schema.js';
import { migrationsSchema } from './migrations-schema.js';
import { blueGreenOptionsSchema } from '../../strategies/blue-green.js';
import { canaryOptionsSchema } from '../../strategies/canary.js';
import { linearOptionsSchema } from '../../strategies/linear.js';
import { rollingOptionsSchema } from '../../strategies/rolling.js';
import { hybridOptionsSchema } from '../../strategies/hybrid.js';
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
  onInconclusive: z.enum(ON_INCONCLUSIVE, { error: `must be one of ${ON_INCONCLUSIVE.join(', ')}` }).optional()
    .describe('When a check never got a conclusive result (e.g. too little traffic): pause for `zdd promote` / `zdd abort` (default, as Argo Rollouts does), rollback, or pass'),
});

/**
 * Each built-in's options schema lives with the strategy. A plugin's section (`strategies.<plugin>`)
 * is let through here and checked by the plugin's own `optionsSchema` in the rules that follow
 * (src/config/strategy-sections.ts), which also name any section that belongs to no strategy.
 */
export const strategiesSchema = z.looseObject({
  default: nonEmptyString('Strategy used when --strategy is not given (default "canary")').optional(),
  canary: canaryOptionsSchema.optional(),
  linear: linearOptionsSchema.optional(),
  'blue-green': blueGreenOptionsSchema.optional(),
  rolling: rollingOptionsSchema.optional(),
  hybrid: hybridOptionsSchema.optional().describe('Code deploy, then feature flag ramps, in one plan (`--strategy hybrid`; see docs/flags.md)'),
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

export const observedSplitSchema = z.strictObject({
  enabled: z.boolean().optional().describe('Check each traffic shift from outside (default: on where the router names the revision in its answers, or `header` is set)'),
  requests: intBetween(20, 10_000, 'Requests sent to the production entry point after each shift (default 100)').optional(),
  within: duration('Time limit of those requests (default 5s)').optional(),
  path: z.string().regex(/^\//, { error: (iss) => `must start with "/", got ${show(iss.input)}` }).optional().describe('Path requested (default "/"): an inexpensive GET that every revision answers'),
  header: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: (iss) => `must be an HTTP header name, got ${show(iss.input)}` })
    .optional()
    .describe('Response header the app sets to its revision id (where the router names none: AWS, Kubernetes, or hosts behind a proxy of your own)'),
});

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
  observedSplit: observedSplitSchema.optional().describe('After each traffic shift, count which revision answers real requests at the production entry point; a split far from the weights zdd set fails the step (see docs/observed-split.md)'),
  drain: duration('Time a revision at weight 0 keeps serving in-flight requests before it is stopped (default 5s)').optional(),
  hooks: hooksSchema.optional().describe('Commands or functions at lifecycle points: a command string, { run, timeout, env, continueOnError }, a function, or a list of them; they get ZDD_* variables'),
  gates: z.record(z.string(), gateSchema).optional().describe('Named gates: "smoke" runs before traffic, "analysis" during bakes'),
  flags: flagsSchema.optional().describe('Feature flag service for `zdd release`, `zdd flag kill` and flag steps (Unleash, or a flagd flag file)'),
  notify: notifySchema.optional(),
  migrations: migrationsSchema.optional().describe('Database migrations in phases: expand before the candidate gets traffic, contract after the old revision is retired (docs/migrations.md)'),
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
