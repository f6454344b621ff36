import { z } from 'zod';
import type { ProviderFactory, RevisionSpec } from '../core/provider.js';
import { fn, nonEmptyString } from '../config/schema-helpers.js';
import { awsCandidate } from './aws/candidate.js';
import { awsProviderSchema } from './aws/schema.js';
import { kubernetesCandidate } from './kubernetes/candidate.js';
import { kubernetesProviderSchema } from './kubernetes/schema.js';
import { localProviderSchema } from './local/schema.js';
import { hostsPlatformSchema } from './hosts/schema.js';
import { haproxyRouterSchema } from './haproxy/schema.js';
import { PROVIDER_MANIFEST, type ProviderManifest } from './provider-manifest.js';

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

/** One provider: its manifest (flags, init template), its config schema and its lazily loaded factory. */
export interface ProviderEntry extends ProviderManifest {
  schema: z.ZodType;
  load(): Promise<ProviderFactory<any>>;
  /** The candidate `zdd deploy` runs, completed from the provider config, or a UsageError (exit 2) before anything changes. */
  candidate?(candidate: RevisionSpec, providerConfig: any): RevisionSpec;
}

/**
 * The only module that maps provider names to implementations. Schemas load eagerly (zod only);
 * implementations load lazily so `zdd --help` never pulls in an SDK. Everything provider-specific
 * the CLI needs earlier (flags, `zdd init` template) is in the manifest each entry extends.
 */
export const PROVIDER_TYPES = {
  local: { ...PROVIDER_MANIFEST.local, schema: localProviderSchema, load: () => import('./local/local-provider.js').then((m) => m.localProvider as ProviderFactory<any>) },
  aws: { ...PROVIDER_MANIFEST.aws, schema: awsProviderSchema, candidate: awsCandidate, load: () => import('./aws/aws-provider.js').then((m) => m.awsProvider as ProviderFactory<any>) },
  kubernetes: { ...PROVIDER_MANIFEST.kubernetes, schema: kubernetesProviderSchema, candidate: kubernetesCandidate, load: () => import('./kubernetes/kubernetes-provider.js').then((m) => m.kubernetesProvider as ProviderFactory<any>) },
  hosts: { ...PROVIDER_MANIFEST.hosts, schema: hostsPlatformSchema.extend({ router: haproxyRouterSchema }), load: () => import('./hosts/hosts-provider.js').then((m) => m.hostsProvider as ProviderFactory<any>) },
  custom: {
    ...PROVIDER_MANIFEST.custom,
    schema: customProviderSchema,
    load: async () => ({ create: (cfg: any, ctx) => cfg.create(cfg.options ?? {}, ctx) }) as ProviderFactory<any>,
  },
} satisfies Record<string, ProviderEntry>;

/** The candidate a deploy runs on the configured provider (AWS fills in or demands an image). */
export function providerCandidate(candidate: RevisionSpec, providerConfig: { type: string }): RevisionSpec {
  const entry = (PROVIDER_TYPES as Record<string, ProviderEntry>)[providerConfig.type];
  return entry?.candidate?.(candidate, providerConfig) ?? candidate;
}

export type ProviderType = keyof typeof PROVIDER_TYPES;
