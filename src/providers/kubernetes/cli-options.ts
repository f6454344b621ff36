import type { ProviderCliOption } from '../provider-manifest.js';
import type { KubeAccess } from './kube-api.js';

/** `--kubeconfig`, `--context` and `--namespace`: the Kubernetes provider's own flags. */
export const kubernetesCliOptions: readonly ProviderCliOption[] = [
  { key: 'kubeconfig', flags: '--kubeconfig <file>', description: 'Kubeconfig file; overrides provider.kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)' },
  { key: 'context', flags: '--context <name>', description: 'Kubeconfig context; overrides provider.context (default: the current context)' },
  { key: 'namespace', flags: '--namespace <name>', description: "Namespace; overrides provider.namespace (default: the context's namespace)" },
];

/** A flag beats the config, which beats the kubeconfig's own defaults. */
export function kubeAccess(config: KubeAccess | undefined, flags: Record<string, string | undefined>): KubeAccess {
  return { kubeconfig: flags.kubeconfig ?? config?.kubeconfig, context: flags.context ?? config?.context, namespace: flags.namespace ?? config?.namespace };
}
