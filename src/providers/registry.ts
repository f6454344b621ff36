import { z } from 'zod';
import type { ProviderFactory, RevisionSpec } from '../core/provider.js';
import { fn, nonEmptyString } from '../config/schema-helpers.js';
import { awsCandidate } from './aws/candidate.js';
import { albRouterSchema, awsProviderSchema } from './aws/schema.js';
import { kubernetesCandidate } from './kubernetes/candidate.js';
import { gatewayApiRouterSchema, istioRouterSchema, kubernetesProviderSchema, serviceRouterSchema } from './kubernetes/schema.js';
import { localProviderSchema, localRouterSchema } from './local/schema.js';
import { hostsPlatformSchema } from './hosts/schema.js';
import { haproxyRouterSchema } from './haproxy/schema.js';
import type { FrontablePlatformFactory, FrontingRouterFactory, PairLoader } from './compose.js';
import { PROVIDER_MANIFEST, ROUTER_MANIFEST, routersOf, type ProviderManifest, type RouterName } from './provider-manifest.js';

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

/** One platform: its manifest (flags, init template, routers, capabilities), its config schema and how each of its pairs is built. */
export interface PlatformEntry extends ProviderManifest {
  /** The platform's own fields (with `type`, without `router`). */
  schema: z.ZodObject;
  /** Its provider with a router of kind `own` (absent: it only stands behind fronting routers). */
  loadOwn?(): Promise<ProviderFactory<any>>;
  /** The platform alone, for a fronting router (absent: no fronting router can stand before it). */
  loadFrontable?(): Promise<FrontablePlatformFactory>;
  /** The candidate `zdd deploy` runs, completed from the provider config, or a UsageError (exit 2) before anything changes. */
  candidate?(candidate: RevisionSpec, providerConfig: any): RevisionSpec;
  /** Platform keys that are really settings of its own router (local: port, sticky …): refused with any other router rather than silently ignored. */
  ownRouterKeys?: { router: RouterName; keys: readonly string[] };
}

/** One router: its config schema (`provider.router`) and, for a fronting router, its lazily loaded factory. */
export interface RouterEntry {
  schema: z.ZodObject;
  loadFronting?(): Promise<FrontingRouterFactory>;
}

/**
 * Every router by name; what each can do is in its manifest (ROUTER_MANIFEST). Schemas load eagerly
 * (zod only); implementations load lazily so `zdd --help` never pulls in an SDK.
 */
export const ROUTERS: Record<RouterName, RouterEntry> = {
  local: { schema: localRouterSchema },
  alb: { schema: albRouterSchema },
  service: { schema: serviceRouterSchema },
  istio: { schema: istioRouterSchema },
  'gateway-api': { schema: gatewayApiRouterSchema },
  haproxy: { schema: haproxyRouterSchema, loadFronting: () => import('./haproxy/haproxy-router-factory.js').then((m) => m.haproxyRouterFactory) },
};

/** Every platform by name. Adding one is a folder and a line here (docs/extending.md). */
export const PLATFORMS = {
  local: {
    ...PROVIDER_MANIFEST.local,
    schema: localProviderSchema,
    loadOwn: () => import('./local/local-provider.js').then((m) => m.localProvider as ProviderFactory<any>),
    loadFrontable: () => import('./local/process-launcher.js').then((m) => m.localProcessPlatformFactory),
    ownRouterKeys: { router: 'local', keys: ['port', 'testRoute', 'sticky', 'timeouts', 'maxConnections', 'deadMansSwitch'] },
  },
  aws: { ...PROVIDER_MANIFEST.aws, schema: awsProviderSchema, candidate: awsCandidate, loadOwn: () => import('./aws/aws-provider.js').then((m) => m.awsProvider as ProviderFactory<any>) },
  kubernetes: {
    ...PROVIDER_MANIFEST.kubernetes,
    schema: kubernetesProviderSchema.omit({ router: true }),
    candidate: kubernetesCandidate,
    loadOwn: () => import('./kubernetes/kubernetes-provider.js').then((m) => m.kubernetesProvider as ProviderFactory<any>),
  },
  hosts: { ...PROVIDER_MANIFEST.hosts, schema: hostsPlatformSchema, loadFrontable: () => import('./hosts/hosts-platform.js').then((m) => m.hostsPlatformFactory) },
} satisfies Record<string, PlatformEntry>;

/** The routers a platform can use; a pair that cannot work is refused here, at config validation (exit 2), naming them. */
function routerField(platform: keyof typeof PLATFORMS): z.ZodType {
  const names = routersOf(platform);
  const schemas = names.map((n) => ROUTERS[n].schema) as unknown as [z.ZodObject, ...z.ZodObject[]];
  const field = z.discriminatedUnion('type', schemas, {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const type = (iss.input as { type?: unknown } | undefined)?.type;
      const usable = names.map((n) => `"${n}"`).join(', ');
      if (typeof type === 'string' && type in ROUTER_MANIFEST) return `router "${type}" cannot stand in front of platform "${platform}"; platform "${platform}" can use ${usable}`;
      return `type must be one of ${usable} (the routers platform "${platform}" can use)`;
    },
  });
  const about = `How traffic reaches the revisions. ${names.map((n) => `"${n}": ${ROUTER_MANIFEST[n].title}`).join('; ')}`;
  // A platform whose routers all need settings of their own (hosts + haproxy, kubernetes) must name one; the others default to the first.
  return REQUIRED_ROUTER.has(platform) ? field.describe(about) : field.optional().describe(`${about}. Default "${names[0]}"`);
}
const REQUIRED_ROUTER = new Set<string>(['kubernetes', 'hosts']);

/** How the pair `platform`+`router` is built (the router already validated as one the platform can use). */
export function pairLoader(platform: string, router: string): PairLoader {
  const p = (PLATFORMS as Record<string, PlatformEntry>)[platform];
  const r = ROUTERS[router as RouterName];
  if (ROUTER_MANIFEST[router as RouterName].kind === 'own') return { kind: 'own', loadProvider: p.loadOwn! };
  return { kind: 'fronting', loadPlatform: p.loadFrontable!, loadRouter: r.loadFronting!, platformCapabilities: p.capabilities! };
}

/** One provider type as config validation and the CLI see it: a platform with its `router` field. */
export interface ProviderEntry extends ProviderManifest {
  schema: z.ZodType;
  load(): Promise<ProviderFactory<any>>;
  candidate?(candidate: RevisionSpec, providerConfig: any): RevisionSpec;
}

function providerEntry(platform: keyof typeof PLATFORMS): ProviderEntry {
  const entry: PlatformEntry = PLATFORMS[platform];
  const own = entry.ownRouterKeys;
  let schema: z.ZodType = entry.schema.extend({ router: routerField(platform) });
  if (own) {
    schema = schema.superRefine((cfg, ctx) => {
      const router = (cfg as { router?: { type: string } }).router?.type ?? routersOf(platform)[0];
      if (router === own.router) return;
      for (const key of own.keys) {
        if ((cfg as Record<string, unknown>)[key] === undefined) continue;
        ctx.addIssue({ code: 'custom', path: [key], message: `is a setting of the ${own.router} router, and this platform's router is "${router}"; remove it (the ${router} router's settings go in provider.router)` });
      }
    });
  }
  return {
    ...entry,
    schema,
    load: async () => {
      const { composeProvider } = await import('./compose.js');
      return {
        create: (config: { router?: { type: string } } & Record<string, unknown>, ctx) => {
          const router = config.router?.type ?? routersOf(platform)[0];
          return composeProvider({ platform, router }, pairLoader(platform, router), config, ctx);
        },
      };
    },
  };
}

/**
 * The only module that maps provider names to implementations: each platform composed with its
 * router field, and `custom` (a provider written in the config itself).
 */
export const PROVIDER_TYPES = {
  local: providerEntry('local'),
  aws: providerEntry('aws'),
  kubernetes: providerEntry('kubernetes'),
  hosts: providerEntry('hosts'),
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
