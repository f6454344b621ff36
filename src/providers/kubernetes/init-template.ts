/** The commented config `zdd init --provider kubernetes` writes; it matches the manifests in docs/kubernetes.md. */
export function kubernetesInitTemplate(opts: { namespace?: string; context?: string } = {}): string {
  const pin = [opts.context ? `    context: ${JSON.stringify(opts.context)},\n` : '', opts.namespace ? `    namespace: ${JSON.stringify(opts.namespace)},\n` : ''].join('');
  return `import { defineConfig } from 'zdd';

// zdd config for a Deployment on Kubernetes, canary by Gateway API HTTPRoute weights.
// docs/kubernetes.md "Manifests" shows the Deployment, Service, HTTPRoute and RBAC Role this file
// names: with those, nothing here needs editing. \`zdd validate\` checks it, \`zdd plan\` shows a deploy.
export default defineConfig({
  // The name of what this config deploys; the lock and the records are per service.
  service: 'web',

  provider: {
    type: 'kubernetes',
    // Cluster access: --kubeconfig / --context / --namespace, else these, else KUBECONFIG
    // (~/.kube/config) and its current context, or the service account when run in the cluster.
${pin}    // namespace: 'web',

    // Your Deployment: the template every revision copies (zdd changes the image and the
    // zdd.dev/revision label) and the first stable. Its pod template carries zdd.dev/revision.
    deployment: 'web',
    // container: 'web',            // whose image a revision replaces (default: the first)
    // \`zdd deploy --revision 1.4.2\` without --image runs this image.
    image: 'registry.example.com/web:{{revision}}',

    // Traffic: weights on rule 0 of your HTTPRoute. zdd creates a Service web-<revision> per
    // revision beside your Service "web" and edits only that rule's backendRefs (plus a header
    // rule of its own, x-canary: always, for smoke tests).
    router: { type: 'gateway-api', httpRoute: 'web', rule: 0, service: 'web' },
    // Istio: weights on the http route named "primary" of your VirtualService.
    // router: { type: 'istio', virtualService: 'web', route: 'primary', service: 'web' },
    // Blue-green without a mesh: switch the zdd.dev/revision key of your Service's selector.
    // router: { type: 'service', service: 'web', previewService: 'web-preview' },

    // Production URL for HTTP checks and hooks (zdd never reaches pods directly).
    // url: 'https://web.example.com',
  },

  // Records as ConfigMaps and the lock as a Lease in the namespace, so \`zdd status\` and
  // \`zdd rollback\` work from any machine with cluster access.
  state: { type: 'kubernetes' },

  // Pods per revision. Default: as many as stable runs now.
  // replicas: 3,

  // How long a revision at weight 0 keeps serving in-flight requests before it is scaled down.
  drain: '30s',

  // How long new pods may take to become ready (the Deployment's availableReplicas).
  health: { timeout: '5m' },

  strategies: {
    default: 'canary',
    canary: { steps: [{ weight: 10, pause: '2m' }, { weight: 50, pause: '2m' }, { weight: 100 }] },
    'blue-green': { bake: '5m', keepPrevious: '30m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },

  gates: {
    // Runs during every bake; a failure rolls back at once. Istio's and most gateways' metrics
    // carry the destination Service: web-<revision> is the candidate (docs/kubernetes.md).
    // analysis: { checks: [{ type: 'prometheus', url: 'http://prometheus:9090', query: '...', max: 0.05 }] },
  },
});
`;
}
