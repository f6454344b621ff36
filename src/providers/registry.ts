import { z } from 'zod';
import type { ProviderFactory } from '../core/provider.js';
import { fn, nonEmptyString } from '../config/schema-helpers.js';
import { awsProviderSchema } from './aws/schema.js';
import { localProviderSchema } from './local/schema.js';

/**
 * A provider written in the config itself (`type: 'custom'`): an object with a `create` factory.
 * This is how plugins and the test suite's fake provider reach the built binary.
 */
export const customProviderSchema = z.strictObject({
  type: z.literal('custom'),
  name: nonEmptyString('Shown in output').optional(),
  create: fn<ProviderFactory['create']>('(config, ctx) => Provider'),
  options: z.record(z.string(), z.unknown()).optional().describe('Passed to create() as its config'),
});

/**
 * The only module that maps provider names to implementations. Schemas load eagerly (zod only);
 * implementations load lazily so `zdd --help` never pulls in an SDK.
 */
export const PROVIDER_TYPES = {
  local: { schema: localProviderSchema, load: () => import('./local/local-provider.js').then((m) => m.localProvider as ProviderFactory<any>) },
  aws: { schema: awsProviderSchema, load: () => import('./aws/aws-provider.js').then((m) => m.awsProvider as ProviderFactory<any>) },
  custom: {
    schema: customProviderSchema,
    load: async () => ({ create: (cfg: any, ctx) => cfg.create(cfg.options ?? {}, ctx) }) as ProviderFactory<any>,
  },
} satisfies Record<string, { schema: z.ZodType; load: () => Promise<ProviderFactory<any>> }>;

export type ProviderType = keyof typeof PROVIDER_TYPES;
