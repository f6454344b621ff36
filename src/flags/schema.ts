import { z } from 'zod';
import { duration, intBetween, nonEmptyString, show } from '../config/schema-helpers.js';

/**
 * The `flags` section: which flag service zdd drives for `zdd release`, `zdd flag kill` and flag
 * steps. Credentials are never in the file: `tokenEnv` names the environment variable holding one.
 */

const constraintSchema = z.strictObject({
  contextName: nonEmptyString('Context field, e.g. "userId" or "region"'),
  operator: z.enum(['IN', 'NOT_IN']).optional().describe('IN (default) or NOT_IN'),
  values: z.array(z.string()).min(1, { error: 'needs at least one value' }).describe('Values the field is compared with'),
});

export const flagReleaseSchema = z.strictObject({
  steps: z
    .array(intBetween(0, 100))
    .min(1, { error: 'needs at least one percentage, e.g. [10, 50, 100]' })
    .optional()
    .describe('Rollout percentages in order (default [10, 50, 100])'),
  pause: duration('Bake after each step, with analysis (default 5m)').optional(),
  analysis: z.array(nonEmptyString()).optional().describe('Gates that run during every bake (default ["analysis"] when that gate exists)'),
  stickiness: nonEmptyString('Context field the rollout sticks to (default "default": userId, then sessionId, then random)').optional(),
  groupId: nonEmptyString('Bucketing seed (default: the flag name)').optional(),
  constraints: z.array(constraintSchema).optional().describe('Limit the rollout to matching contexts, e.g. [{ contextName: "region", values: ["eu"] }]'),
  otherRules: z
    .enum(['warn', 'refuse'])
    .optional()
    .describe('Other active rules on the flag (Unleash strategies zdd does not own) widen exposure, since they are ORed with the rollout: warn and go on (default), or refuse the release (exit 5)'),
});

const releaseField = {
  release: flagReleaseSchema.optional().describe('Defaults of `zdd release` and of flag ramps in a hybrid plan'),
};

export const unleashFlagsSchema = z.strictObject({
  provider: z.literal('unleash'),
  url: z
    .string({ error: 'is required: the Unleash server, e.g. "https://unleash.example.com"' })
    .regex(/^https?:\/\/[^\s]+$/, { error: (iss) => `must be an http(s) URL, got ${show(iss.input)}` })
    .describe('Unleash server base URL (the Admin API is under /api/admin)'),
  project: nonEmptyString('Unleash project holding the flags (default "default")').optional(),
  environment: nonEmptyString('Unleash environment zdd changes (default "production")').optional(),
  tokenEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: (iss) => `must be an environment variable name, got ${show(iss.input)}` })
    .optional()
    .describe('Environment variable holding an Unleash admin API token (default "UNLEASH_ADMIN_TOKEN"); the token itself never goes in the config'),
  timeout: duration('Timeout of one Admin API call (default 5s)').optional(),
  ...releaseField,
});

export const openFeatureFileFlagsSchema = z.strictObject({
  provider: z.literal('openfeature-file'),
  path: nonEmptyString('flagd flag definition JSON file that zdd rewrites atomically (relative to the config file)'),
  ...releaseField,
});

export const flagsSchema = z.discriminatedUnion('provider', [unleashFlagsSchema, openFeatureFileFlagsSchema], {
  error: (iss) => (iss.code === 'invalid_union' ? 'provider must be "unleash" or "openfeature-file"' : undefined),
});

export type FlagsConfig = z.output<typeof flagsSchema>;
export type UnleashFlagsConfig = z.output<typeof unleashFlagsSchema>;
export type OpenFeatureFileFlagsConfig = z.output<typeof openFeatureFileFlagsSchema>;
export type FlagReleaseConfig = z.output<typeof flagReleaseSchema>;
