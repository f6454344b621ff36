import { z } from 'zod';
import { intBetween, nonEmptyString } from '../config/schema-helpers.js';
import { thresholdFields } from './threshold-schema.js';

/** HTTP probe against the candidate (through the test route when the provider has one) or a URL. */
export const httpCheckSchema = z.strictObject({
  type: z.literal('http'),
  ...thresholdFields,
  path: nonEmptyString('Path requested on the target (default "/")').optional(),
  url: z.url({ error: 'must be an absolute http(s) URL' }).optional().describe('Full URL instead of target + path'),
  target: z.enum(['candidate', 'service'], { error: 'must be "candidate" or "service"' }).optional()
    .describe('candidate: through the test route / an instance of the candidate (default); service: production entry point'),
  method: z.enum(['GET', 'HEAD', 'POST']).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  expectStatus: z.union([intBetween(100, 599), z.array(intBetween(100, 599)).min(1)]).optional()
    .describe('Status(es) that pass; default any 2xx'),
  bodyIncludes: z.string().optional().describe('Text the body must contain'),
});
export type HttpCheckConfig = z.output<typeof httpCheckSchema>;

/** A smoke command: passes when it exits 0. Gets ZDD_* variables and ZDD_TARGET_URL. */
export const commandCheckSchema = z.strictObject({
  type: z.literal('command'),
  ...thresholdFields,
  run: z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)]).describe('Shell command, or argv array run without a shell'),
  env: z.record(z.string(), z.string()).optional(),
});
export type CommandCheckConfig = z.output<typeof commandCheckSchema>;
