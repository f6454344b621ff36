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
  initTemplate?(opts: InitOptions): Promise<string>;
}

/**
 * The zod-free half of the provider registry (`registry.ts` adds schemas and implementations), so
 * `zdd --help` lists every provider's flags without loading a schema or an SDK.
 */
export const PROVIDER_MANIFEST = {
  local: {
    title: 'local provider',
    cliOptions: [],
    initTemplate: async () => (await import('../cli/local-init-template.js')).localInitTemplate,
  },
  aws: {
    title: 'AWS provider (ECS + ALB)',
    cliOptions: awsCliOptions,
    initTemplate: async (opts: InitOptions) => (await import('./aws/init-template.js')).awsInitTemplate(opts),
  },
  kubernetes: {
    title: 'Kubernetes provider (Deployments + Service, Istio or Gateway API)',
    cliOptions: kubernetesCliOptions,
    initTemplate: async (opts: InitOptions) => (await import('./kubernetes/init-template.js')).kubernetesInitTemplate(opts),
  },
  hosts: {
    title: 'hosts platform (instances started by your commands, behind HAProxy)',
    cliOptions: [],
    initTemplate: async () => (await import('./hosts/init-template.js')).hostsInitTemplate(),
  },
  custom: { title: 'custom provider', cliOptions: [] },
} satisfies Record<string, ProviderManifest>;

export type ProviderName = keyof typeof PROVIDER_MANIFEST;

/** Providers `zdd init` can write a config for. */
export const INIT_PROVIDERS = (Object.keys(PROVIDER_MANIFEST) as ProviderName[]).filter((n) => 'initTemplate' in PROVIDER_MANIFEST[n]);

/** The values of `provider`'s own flags among a command's parsed options. */
export function providerFlags(provider: string, opts: Record<string, unknown>): Record<string, string | undefined> {
  const manifest = (PROVIDER_MANIFEST as Record<string, ProviderManifest>)[provider];
  const out: Record<string, string | undefined> = {};
  for (const o of manifest?.cliOptions ?? []) if (typeof opts[o.key] === 'string') out[o.key] = opts[o.key] as string;
  return out;
}
