import type { PlatformCapabilities, RouterCapabilities } from '../core/provider.js';
import { awsCliOptions } from './aws/cli-options.js';
import { kubernetesCliOptions } from './kubernetes/cli-options.js';

/** A CLI flag a provider adds to the commands that reach it; `key` is its name in ProviderContext.options. */
export interface ProviderCliOption {
  key: string;
  flags: string;
  description: string;
}

/** What `zdd init` knows of the user's choices: the provider's own flags, when given. */
export type InitOptions = Record<string, string | undefined>;

/** The part of a provider's registry entry the CLI needs before any config loads (no zod, no SDK). */
export interface ProviderManifest {
  /** Heading of the provider's flags in `--help`. */
  title: string;
  /** Flags only this provider reads (AWS: --region, --profile). */
  cliOptions: readonly ProviderCliOption[];
  /** The commented deploy.config.ts `zdd init --provider <name>` writes; absent for `custom`. */
  initTemplate?(opts: InitOptions, routerSnippet?: string): Promise<string>;
  /** Routers this platform can stand behind (`provider.router.type`); the first is the default when the config names none. */
  routers?: readonly RouterName[];
  /** What the platform can do; absent for `custom` (its provider declares its own). */
  capabilities?: PlatformCapabilities;
}

/** The part of a router's registry entry known before any config loads: what it can do at most. */
export interface RouterManifest {
  title: string;
  /** The most it can do; the configured router may do less (e.g. no header route without `testRoute`). */
  capabilities: RouterCapabilities;
  /**
   * `own`: built by its platform's provider, with which it shares state (the local router process
   * records the instances; ALB and ECS share the slots; the Kubernetes routers the API client).
   * `fronting`: stands in front of any platform that lists it, learning each revision's instances
   * from the platform (src/providers/compose.ts wires the two).
   */
  kind: 'own' | 'fronting';
  /** The commented `router: { … }` block `zdd init --router <name>` writes into the platform's template (a router with settings of its own). */
  initSnippet?(): Promise<string>;
}

/** Every router, by the name `provider.router.type` gives it. */
export const ROUTER_MANIFEST = {
  local: {
    title: "zdd's own router (a background Node process on the service port)",
    capabilities: { weights: { granularity: 1 }, instantSwitch: true, headerRoute: true, testListener: false, trafficSample: true, answerTag: true },
    kind: 'own',
  },
  alb: {
    title: 'AWS Application Load Balancer (weighted forward action over two target groups)',
    capabilities: { weights: { granularity: 1 }, instantSwitch: true, headerRoute: true, testListener: true, trafficSample: false, answerTag: false },
    kind: 'own',
  },
  service: {
    title: 'Kubernetes Service selector switch',
    capabilities: { weights: false, instantSwitch: true, headerRoute: false, testListener: true, trafficSample: false, answerTag: false },
    kind: 'own',
  },
  istio: {
    title: 'Istio VirtualService weights',
    capabilities: { weights: { granularity: 1 }, instantSwitch: true, headerRoute: true, testListener: false, trafficSample: false, answerTag: false },
    kind: 'own',
  },
  'gateway-api': {
    title: 'Gateway API HTTPRoute weights',
    capabilities: { weights: { granularity: 1 }, instantSwitch: true, headerRoute: true, testListener: false, trafficSample: false, answerTag: false },
    kind: 'own',
  },
  haproxy: {
    title: "HAProxy, driven through its Runtime API (the platform's instances as a backend's server slots)",
    capabilities: { weights: { granularity: 1 }, instantSwitch: true, headerRoute: true, testListener: false, trafficSample: true, answerTag: true },
    kind: 'fronting',
    initSnippet: async () => (await import('./haproxy/init-snippet.js')).haproxyInitSnippet,
  },
} as const satisfies Record<string, RouterManifest>;

export type RouterName = keyof typeof ROUTER_MANIFEST;

/**
 * The zod-free half of the provider registry (`registry.ts` adds schemas and implementations), so
 * `zdd --help` lists every provider's flags without loading a schema or an SDK.
 */
export const PROVIDER_MANIFEST = {
  local: {
    title: 'local provider',
    cliOptions: [],
    routers: ['local', 'haproxy'],
    capabilities: { batches: true, scaleToZero: true, surge: true },
    initTemplate: async (_opts: InitOptions, routerSnippet?: string) => {
      const template = (await import('../cli/local-init-template.js')).localInitTemplate;
      if (!routerSnippet) return template;
      // Another router in front: zdd's own router's port gives way to the router's block.
      return template
        .replace("behind zdd's own router.", 'behind the router below.')
        .replace(/ {4}\/\/ Where the router listens for production traffic\.\n {4}port: [^\n]*\n/, '')
        .replace(/( {4}health: \{ path: '\/health' \},\n)/, `$1    ${routerSnippet},\n`);
    },
  },
  aws: {
    title: 'AWS provider (ECS + ALB)',
    cliOptions: awsCliOptions,
    routers: ['alb'],
    capabilities: { batches: true, scaleToZero: true, surge: true },
    initTemplate: async (opts: InitOptions) => (await import('./aws/init-template.js')).awsInitTemplate(opts),
  },
  kubernetes: {
    title: 'Kubernetes provider (Deployments + Service, Istio or Gateway API)',
    cliOptions: kubernetesCliOptions,
    routers: ['service', 'istio', 'gateway-api'],
    capabilities: { batches: true, scaleToZero: true, surge: true },
    initTemplate: async (opts: InitOptions) => (await import('./kubernetes/init-template.js')).kubernetesInitTemplate(opts),
  },
  hosts: {
    title: 'hosts platform (instances started by your commands, behind HAProxy)',
    cliOptions: [],
    routers: ['haproxy'],
    capabilities: { batches: true, scaleToZero: true, surge: true },
    initTemplate: async (_opts: InitOptions, routerSnippet?: string) => (await import('./hosts/init-template.js')).hostsInitTemplate(routerSnippet),
  },
  custom: { title: 'custom provider', cliOptions: [] },
} satisfies Record<string, ProviderManifest>;

export type ProviderName = keyof typeof PROVIDER_MANIFEST;

/** Routers platform `platform` can stand behind, the default first (none for `custom`). */
export function routersOf(platform: string): readonly RouterName[] {
  return (PROVIDER_MANIFEST as Record<string, ProviderManifest>)[platform]?.routers ?? [];
}

/** Providers `zdd init` can write a config for. */
export const INIT_PROVIDERS = (Object.keys(PROVIDER_MANIFEST) as ProviderName[]).filter((n) => 'initTemplate' in PROVIDER_MANIFEST[n]);

/** The values of `provider`'s own flags among a command's parsed options. */
export function providerFlags(provider: string, opts: Record<string, unknown>): Record<string, string | undefined> {
  const manifest = (PROVIDER_MANIFEST as Record<string, ProviderManifest>)[provider];
  const out: Record<string, string | undefined> = {};
  for (const o of manifest?.cliOptions ?? []) if (typeof opts[o.key] === 'string') out[o.key] = opts[o.key] as string;
  return out;
}
