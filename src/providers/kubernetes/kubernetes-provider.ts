import { ProviderError } from '../../core/errors.js';
import type { Step } from '../../core/plan.js';
import type { DrainFacts, Provider, ProviderCapabilities, ProviderContext, ProviderFactory, ProviderSnapshot, TrafficRouter } from '../../core/provider.js';
import { DeploymentPlatform, type ServiceObject } from './deployment-platform.js';
import { inPlaceRollingUpdate } from './in-place-roll.js';
import { podDrainFacts } from './drain-facts.js';
import { GatewayApiRoute } from './gateway-api-route.js';
import { IstioRoute } from './istio-route.js';
import { KubeApi, RESOURCES, type KubeAccess } from './kube-api.js';
import { kubeAccess } from './cli-options.js';
import { REVISION_LABEL, type KubernetesProviderConfig } from './schema.js';
import { ServiceRouter } from './service-router.js';
import { WeightedRouteRouter } from './weighted-route-router.js';

const DEFAULT_TEST_HEADER = { header: 'x-canary', value: 'always' };

/** Deployments in a namespace, behind a Service selector, an Istio VirtualService or an HTTPRoute. Loaded lazily by the registry. */
export const kubernetesProvider: ProviderFactory<KubernetesProviderConfig> = {
  create: async (config, ctx) => {
    const api = await KubeApi.connect(kubeAccess(config, ctx.options));
    return new KubernetesProvider(api, config, ctx, await rollsInPlace(api, config));
  },
};

/**
 * Router `service` whose Service selects every pod of the Deployment (no zdd.dev/revision key in
 * its selector): a new revision can only reach production through the Deployment's own rollout.
 * A Service that is missing or cannot be read reads as "no" here: preflight names the problem
 * (after the Deployment, which it reads first).
 */
async function rollsInPlace(api: KubeApi, config: KubernetesProviderConfig): Promise<boolean> {
  if (config.router.type !== 'service') return false;
  const svc = await api.get<ServiceObject>(RESOURCES.service, config.router.service ?? config.deployment).catch((e: unknown) => {
    if (e instanceof ProviderError) return null;
    throw e;
  });
  return svc !== null && !svc.spec.selector?.[REVISION_LABEL];
}

export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';
  readonly pair: { platform: 'kubernetes'; router: string };
  readonly capabilities: ProviderCapabilities;
  readonly platform: DeploymentPlatform;
  readonly router: (ServiceRouter | WeightedRouteRouter) & TrafficRouter;

  constructor(readonly api: KubeApi, config: KubernetesProviderConfig, ctx: ProviderContext, inPlace = false) {
    const r = config.router;
    this.pair = { platform: 'kubernetes', router: r.type };
    const base = r.type === 'service' ? undefined : (r.service ?? config.deployment);
    this.platform = new DeploymentPlatform(api, config, ctx.service, ctx.clock, base, inPlace);
    if (r.type === 'service') {
      this.router = new ServiceRouter(api, r, this.platform, config.deployment);
    } else {
      const header = r.testRoute === false ? null : { ...DEFAULT_TEST_HEADER, ...r.testRoute };
      const shape = r.type === 'istio' ? new IstioRoute(r.virtualService, r.route, ctx.service, header) : new GatewayApiRoute(r.httpRoute, r.rule ?? 0, header);
      this.router = new WeightedRouteRouter(r.type, api, shape, r.type === 'istio' ? r.virtualService : r.httpRoute, base!, this.platform, ctx.service, header);
      if (header) this.platform.testHeaders = { [header.header]: header.value };
    }
    const caps = this.router.capabilities;
    this.capabilities = {
      weightedTraffic: caps.weights !== false,
      // Rolling in place goes through the Deployment's rollout, never in one switch.
      instantSwitch: caps.instantSwitch && !inPlace,
      rollsInPlace: inPlace,
      testRoute: caps.headerRoute || (this.router instanceof ServiceRouter && this.router.hasTestRoute),
      batches: this.platform.capabilities.batches,
    };
  }

  /** Reads everything zdd will touch (exit 5 on 401/403/missing objects/CRDs), then asks RBAC about the writes. */
  async preflight(): Promise<void> {
    await this.platform.templateDeployment();
    await this.router.preflight();
    await this.checkWrites();
  }

  /** The template Deployment's grace period and preStop hooks, for the drain lint. */
  async drainFacts(): Promise<DrainFacts> {
    return podDrainFacts(await this.platform.templateDeployment());
  }

  async snapshot(): Promise<ProviderSnapshot> {
    const [revisions, weights, testRoute] = [await this.platform.revisions(), await this.router.getWeights(), await this.router.testRoute()];
    const notes = [`namespace ${this.api.namespace} on ${this.api.server}`];
    return { revisions, weights, testRoute, notes };
  }

  /** Rolling in place: the RollingUpdate the Deployment will be given (the strategy's own maxSurge and maxUnavailable are not passed on). */
  async planNotes(steps: Step[], strategyOptions: Record<string, unknown> | undefined): Promise<string[]> {
    const first = steps.find((s) => s.kind === 'provision' && s.role === 'candidate');
    if (!this.platform.inPlace || !first || first.kind !== 'provision') return [];
    const d = await this.platform.inPlace.read();
    return [describeInPlaceStrategy(d.metadata.name, first.replicas, d.spec.replicas ?? 1, strategyOptions)];
  }

  async close(): Promise<void> {}

  /** SelfSubjectAccessReview for each write a deploy makes: a missing grant is exit 5 before any change, naming verb, resource and namespace. */
  private async checkWrites(): Promise<void> {
    const needs: [string, string, string][] = [
      ['apps', 'deployments', 'create'],
      ['apps', 'deployments', 'update'],
      ['apps', 'deployments', 'delete'],
      ['', 'pods', 'list'],
    ];
    if (this.router instanceof ServiceRouter) needs.push(['', 'services', 'update']);
    else {
      needs.push(['', 'services', 'create'], ['', 'services', 'delete']);
      needs.push(this.router.name === 'istio' ? ['networking.istio.io', 'virtualservices', 'update'] : ['gateway.networking.k8s.io', 'httproutes', 'update']);
    }
    for (const [group, resource, verb] of needs) {
      const allowed = await this.api.canI(verb, group, resource);
      if (!allowed) {
        const full = group ? `${resource}.${group}` : resource;
        throw new ProviderError(`Kubernetes forbids user "${this.api.user}" to ${verb} ${full} in namespace ${this.api.namespace} (RBAC), which a deploy needs`, {
          code: 'kube-forbidden',
          hint: `Grant it with a Role in namespace ${this.api.namespace}: apiGroups ["${group}"], resources ["${resource}"], verbs ["${verb}"] (docs/kubernetes.md lists the minimal Role).`,
        });
      }
    }
  }
}

/**
 * What a roll in place writes to the Deployment's strategy, in words for `zdd plan`: maxSurge the
 * first batch, maxUnavailable 0, whatever strategies.rolling says (its maxSurge and maxUnavailable
 * shape zdd's batches only); a rollback writes maxSurge = every replica, to go back in one step.
 */
export function describeInPlaceStrategy(deployment: string, firstBatch: number, replicas: number, options: Record<string, unknown> | undefined): string {
  const given = inPlaceRollingUpdate(firstBatch);
  const theirs = ['maxSurge', 'maxUnavailable'].filter((k) => typeof options?.[k] === 'number' && options[k] !== given[k as keyof typeof given]).map((k) => `${k}: ${String(options![k])}`);
  const ignored = theirs.length ? `; the strategy's ${theirs.join(', ')} ${theirs.length > 1 ? 'shape' : 'shapes'} only zdd's batches and ${theirs.length > 1 ? 'are' : 'is'} not passed on` : '';
  const back = inPlaceRollingUpdate(replicas);
  return (
    `rolling in place: Deployment ${deployment} is given strategy.rollingUpdate { maxSurge: ${given.maxSurge}, maxUnavailable: ${given.maxUnavailable} } (the first batch; no pod is removed before its replacement is ready)${ignored}; ` +
    `it keeps that setting after the roll (a rollback writes maxSurge: ${back.maxSurge}, all replicas at once)`
  );
}

export type { KubeAccess };
