import type { LoadedConfig } from '../config/load-config.js';
import type { StateStore } from '../core/state.js';
import { prepareAwsSdk } from '../aws/sdk-notice.js';
import { awsClientOptions } from '../providers/aws/cli-options.js';
import { kubeAccess } from '../providers/kubernetes/cli-options.js';
import type { KubeAccess } from '../providers/kubernetes/kube-api.js';
import { providerFlags } from '../providers/provider-manifest.js';
import { createStateStore } from '../state/create-state-store.js';
import { commandClock } from './command-start.js';

/**
 * The one way a command opens the config's state store: the same access options for every command
 * (the store's own settings first, then the provider's flags and config, then the environment), and
 * the AWS SDK's notice handled before an S3 client exists. Loads no engine and no provider.
 */
export async function openStateStore(loaded: LoadedConfig, globals: object): Promise<StateStore> {
  if (loaded.config.state?.type === 's3') prepareAwsSdk();
  const flags = providerFlags(String(loaded.config.provider.type), globals as Record<string, unknown>);
  return createStateStore(loaded.config.state, { configDir: loaded.configDir, clock: commandClock(), options: stateStoreOptions(loaded, flags) });
}

/**
 * Access for a remote store the config does not spell out itself: the Kubernetes provider's
 * cluster, or the AWS provider's region and profile (a flag beating the config); with any other
 * provider, nothing (the SDK's own chain: AWS_REGION, AWS_PROFILE).
 */
function stateStoreOptions(loaded: LoadedConfig, flags: Record<string, string | undefined>): Record<string, string | undefined> {
  const provider = loaded.config.provider as { type: string; region?: string; profile?: string };
  if (provider.type === 'kubernetes' || loaded.config.state?.type === 'kubernetes') return kubeAccess(provider.type === 'kubernetes' ? (provider as KubeAccess) : undefined, flags) as Record<string, string | undefined>;
  return awsClientOptions(provider.type === 'aws' ? provider : undefined, flags);
}
