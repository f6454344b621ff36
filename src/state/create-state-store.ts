import { resolve } from 'node:path';
import { systemClock } from '../core/clock.js';
import type { StateStore } from '../core/state.js';
import type { ZddConfig } from '../config/schema.js';
import type { KubeAccess } from '../providers/kubernetes/kube-api.js';
import { FileStateStore } from './file-state-store.js';

/** What a remote store may borrow from the provider when its own config leaves it out. */
export interface StateStoreContext {
  configDir: string;
  /** The config's provider block (its `type`, and the region/profile or cluster access of AWS and Kubernetes). */
  provider: { type: string } & Record<string, unknown>;
  /** The provider's own CLI flags as given (`--region`, `--profile`; `--kubeconfig`, `--context`, `--namespace`). */
  flags: Record<string, string | undefined>;
}

/**
 * The one place that picks a state store from config, and where a remote store finds its access:
 * its own settings first, then the provider's flags and config (AWS: region and profile;
 * Kubernetes: the cluster), then the SDK's own chain. The S3 store (and its SDK) and the Kubernetes
 * client load only when used; the AWS SDK's Node-version notice is handled before an S3 client exists.
 */
export async function createStateStore(config: ZddConfig['state'], ctx: StateStoreContext): Promise<StateStore> {
  if (!config || config.type === 'file') {
    // Locks live in real time (leases, --lock-wait), whatever clock the engine bakes with.
    return new FileStateStore(resolve(ctx.configDir, config?.dir ?? '.zdd'), systemClock);
  }
  if (config.type === 'kubernetes') {
    const [{ createKubernetesStateStore }, { kubeAccess }] = await Promise.all([import('./kubernetes-state-store.js'), import('../providers/kubernetes/cli-options.js')]);
    return createKubernetesStateStore(config, kubeAccess(ctx.provider.type === 'kubernetes' ? (ctx.provider as KubeAccess) : undefined, ctx.flags));
  }
  const [{ createS3StateStore }, { awsClientOptions }, { prepareAwsSdk }] = await Promise.all([
    import('./s3-state-store.js'),
    import('../providers/aws/cli-options.js'),
    import('../aws/sdk-notice.js'),
  ]);
  prepareAwsSdk();
  const aws = awsClientOptions(ctx.provider.type === 'aws' ? (ctx.provider as { region?: string; profile?: string }) : undefined, ctx.flags);
  return createS3StateStore(config, { ...aws, endpoint: process.env.AWS_ENDPOINT_URL });
}

/** The local state directory (provider files such as the local router's live here even with remote state). */
export function localStateDir(config: ZddConfig['state'], configDir: string): string {
  return resolve(configDir, config?.type === 'file' && config.dir ? config.dir : '.zdd');
}
