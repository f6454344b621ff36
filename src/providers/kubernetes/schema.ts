import { z } from 'zod';
import { duration, intBetween, nonEmptyString, show } from '../../config/schema-helpers.js';

/** Pod label (and Service selector key) that tells revisions apart; zdd writes it on what it creates. */
export const REVISION_LABEL = 'zdd.dev/revision';
/** Labels on every object zdd creates (Deployments, per-revision Services, ConfigMaps, Leases). */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'zdd' } as const;
export const SERVICE_LABEL = 'zdd.dev/service';
/** Annotation on a user-owned route object naming the zdd service and route it weights. */
export const ROUTE_OWNER_ANNOTATION = 'zdd.dev/weights';

const dnsName = (description: string) =>
  z
    .string({ error: (iss) => `must be a Kubernetes object name, got ${show(iss.input)}` })
    .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { error: (iss) => `must be a Kubernetes object name (lower case letters, digits, "-" and "."), got ${show(iss.input)}` })
    .describe(description);

const testRouteSchema = z.union(
  [
    z.strictObject({
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]{1,64}$/, { error: (iss) => `must be an HTTP header name, got ${show(iss.input)}` })
        .describe('Header that sends a request to the candidate (default "x-canary")')
        .optional(),
      value: nonEmptyString('Header value (default "always")').optional(),
    }),
    z.literal(false),
  ],
  { error: (iss) => `must be { header, value } or false, got ${show(iss.input)}` },
);

/** A Service whose selector's `zdd.dev/revision` is switched between revisions (blue-green). */
export const serviceRouterSchema = z.strictObject({
  type: z.literal('service'),
  service: dnsName('The production Service; zdd switches the zdd.dev/revision key of its selector (default: the Deployment\'s name)').optional(),
  previewService: dnsName('A second Service zdd points at the candidate for smoke tests (the test route)').optional(),
});

/** Weights on one named HTTP route of a VirtualService the user owns. */
export const istioRouterSchema = z.strictObject({
  type: z.literal('istio'),
  virtualService: dnsName('The VirtualService (yours: zdd edits only the route named below)'),
  route: nonEmptyString('Name of the http route whose destinations zdd weights'),
  service: dnsName('Service the stable revision is reached through first; zdd creates <service>-<revision> beside it for the others (default: the Deployment\'s name)').optional(),
  testRoute: testRouteSchema.optional().describe('Header match route zdd adds before the weighted one (default x-canary: always); false disables it'),
});

/** Weights on the backendRefs of one rule of an HTTPRoute the user owns. */
export const gatewayApiRouterSchema = z.strictObject({
  type: z.literal('gateway-api'),
  httpRoute: dnsName('The HTTPRoute (yours: zdd edits only the rule below)'),
  rule: intBetween(0, 63, 'Index of the rule whose backendRefs zdd weights (default 0)').optional(),
  service: dnsName('Service the stable revision is reached through first; zdd creates <service>-<revision> beside it for the others (default: the Deployment\'s name)').optional(),
  testRoute: testRouteSchema.optional().describe('Header match rule zdd adds (default x-canary: always); false disables it'),
});

export const kubernetesRouterSchema = z.discriminatedUnion('type', [serviceRouterSchema, istioRouterSchema, gatewayApiRouterSchema], {
  error: (iss) => (iss.code === 'invalid_union' ? 'type must be "service", "istio" or "gateway-api"' : undefined),
});

/**
 * Revisions as Deployments of one template (the user's Deployment; image and the revision label
 * differ) in one namespace, traffic by a Service selector, Istio or the Gateway API.
 */
export const kubernetesProviderSchema = z.strictObject({
  type: z.literal('kubernetes'),
  kubeconfig: nonEmptyString('Kubeconfig file; --kubeconfig overrides it (default: KUBECONFIG, ~/.kube/config, then the in-cluster service account)').optional(),
  context: nonEmptyString('Kubeconfig context; --context overrides it (default: the current context)').optional(),
  namespace: dnsName('Namespace of everything below; --namespace overrides it (default: the context\'s namespace, else "default")').optional(),
  deployment: dnsName('Your Deployment: the template every revision copies, and the first stable (its pod template carries zdd.dev/revision)'),
  container: nonEmptyString('Container whose image a revision replaces (default: the first)').optional(),
  image: nonEmptyString('Image a deploy with --revision and no --image runs: "{{revision}}" is replaced, e.g. "registry.example.com/web:{{revision}}"').optional(),
  router: kubernetesRouterSchema.describe('How traffic reaches the revisions'),
  url: z.url({ error: (iss) => `must be a URL, got ${show(iss.input)}` }).optional().describe('Production URL for HTTP checks and hooks (zdd does not reach pods directly)'),
  pollInterval: duration('Time between reads while waiting for a Deployment (default 1s)').optional(),
});
export type KubernetesProviderConfig = z.output<typeof kubernetesProviderSchema>;
export type KubernetesRouterConfig = z.output<typeof kubernetesRouterSchema>;
export type ServiceRouterConfig = z.output<typeof serviceRouterSchema>;
export type IstioRouterConfig = z.output<typeof istioRouterSchema>;
export type GatewayApiRouterConfig = z.output<typeof gatewayApiRouterSchema>;
