import { systemClock } from '../../src/core/clock.js';
import { KubeApi } from '../../src/providers/kubernetes/kube-api.js';
import { KubernetesProvider } from '../../src/providers/kubernetes/kubernetes-provider.js';
import { kubernetesProviderSchema } from '../../src/providers/kubernetes/schema.js';
import { describeProviderContract } from '../contract/provider-contract.js';
import { useKubeSuite } from './kube-project.js';

// The provider contract on a genuine kube-apiserver + controller manager, one namespace per test;
// the kubelet is the only stand-in (test/helpers/kube.ts). The service router has no weights, so
// the contract (which writes 20/50) runs for the two weighted routers.
const k = useKubeSuite();
for (const router of [
  { type: 'istio', virtualService: 'web', route: 'primary', service: 'web' },
  { type: 'gateway-api', httpRoute: 'web', service: 'web' },
] as const) {
  describeProviderContract(
    `kubernetes + ${router.type}`,
    async () => {
      const namespace = await k.namespace({ replicas: 1 });
      const config = kubernetesProviderSchema.parse({ type: 'kubernetes', kubeconfig: k.cp.kubeconfig, namespace, deployment: 'web', router, pollInterval: '200ms' });
      const api = await KubeApi.connect({ kubeconfig: k.cp.kubeconfig, namespace });
      const provider = new KubernetesProvider(api, config, { service: 'web', configDir: '/tmp', stateDir: '/tmp', env: undefined, clock: systemClock, events: { emit: () => {} }, options: {} });
      return { provider, revision: (id) => ({ id, image: `example.com/web:${id}` }), cleanup: async () => {} };
    },
    { timeoutMs: 120_000 },
  );
}
