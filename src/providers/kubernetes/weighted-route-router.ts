import { ProviderError, TrafficMismatchError } from '../../core/errors.js';
import type { TrafficRouter, WeightMap } from '../../core/provider.js';
import { formatWeights, nonZero } from '../../core/weights.js';
import type { DeploymentPlatform, ServiceObject } from './deployment-platform.js';
import { missing, RESOURCES, type KubeApi, type KubeObject, type KubeResource } from './kube-api.js';
import { REVISION_LABEL, ROUTE_OWNER_ANNOTATION } from './schema.js';

/** One weighted backend as a route object holds it: a Service name and its percent. */
export interface Backend {
  service: string;
  weight: number;
}

/**
 * What differs between Istio and the Gateway API: where the weighted backends and the header
 * test route live in the object. Each method works on a copy zdd then replaces whole.
 */
export interface RouteShape {
  readonly resource: KubeResource;
  /** "VirtualService web, route primary" */
  describe(): string;
  /** The weighted route's backends in percent; throws a ProviderError naming what is missing. */
  backends(obj: KubeObject): Backend[];
  /** Replace the weighted route's backends (other routes, hosts and fields stay as they are). */
  setBackends(obj: KubeObject, backends: Backend[]): void;
  /** The Service zdd's header test route sends to, or null when there is none. */
  testBackend(obj: KubeObject): string | null;
  /** Add, repoint (`service`) or remove (null) zdd's header test route. */
  setTestBackend(obj: KubeObject, service: string | null): void;
}

/**
 * Canary weights on a route object the user owns (Istio VirtualService, Gateway API HTTPRoute).
 * Revisions are reached through Services (the user's for the first stable, `<service>-<revision>`
 * created by the platform for the others). Every write is the object as read, changed only in the
 * weighted route (and zdd's own header route), replaced with the resourceVersion read (a 409 reads
 * again), then read back. Weights always sum to 100: neither Istio nor 1.20's API server checks.
 */
export class WeightedRouteRouter implements TrafficRouter {
  readonly capabilities: { weights: { granularity: number }; instantSwitch: true; headerRoute: boolean; testListener: false; trafficSample: false; mirror: false };
  /** 409s met and resolved by reading again (a busy object shows here). */
  conflicts = 0;
  private readonly revisionByService = new Map<string, string | null>();

  constructor(
    readonly name: 'istio' | 'gateway-api',
    private readonly api: KubeApi,
    private readonly shape: RouteShape,
    private readonly objectName: string,
    private readonly baseService: string,
    private readonly platform: DeploymentPlatform,
    private readonly owner: string,
    readonly testHeader: { header: string; value: string } | null,
  ) {
    this.capabilities = { weights: { granularity: 1 }, instantSwitch: true, headerRoute: testHeader !== null, testListener: false, trafficSample: false, mirror: false };
  }

  /** The object exists, the named route exists, it is not another zdd service's, and every backend with weight is a revision. */
  async preflight(): Promise<void> {
    const obj = await this.read();
    this.checkOwner(obj);
    for (const b of this.shape.backends(obj)) {
      if (b.weight > 0 && (await this.revisionOf(b.service)) === null) {
        throw new ProviderError(`${this.shape.describe()} sends ${b.weight}% to Service "${b.service}", which serves no zdd revision (no ${REVISION_LABEL} in its selector)`, {
          code: 'kube-foreign-backend',
          hint: `Point the route at your Service whose selector has ${REVISION_LABEL} (docs/kubernetes.md), or move that traffic elsewhere before deploying with zdd.`,
        });
      }
    }
  }

  async getWeights(): Promise<WeightMap> {
    return this.weightsOf(await this.read());
  }

  async setWeights(weights: WeightMap): Promise<void> {
    const live = nonZero(weights);
    const total = Object.values(live).reduce((a, b) => a + b, 0);
    if (total !== 100 || Object.values(live).some((w) => !Number.isInteger(w) || w < 0)) {
      throw new ProviderError(`Weights ${formatWeights(weights)} do not sum to 100 in whole percents`, { code: 'kube-weights' });
    }
    const backends: Backend[] = [];
    for (const [rev, w] of Object.entries(live)) backends.push({ service: await this.platform.revisionServiceName(rev, this.baseService), weight: w });
    await this.write((obj) => {
      const now = this.shape.backends(obj);
      if (now.length === backends.length && backends.every((b) => now.some((n) => n.service === b.service && n.weight === b.weight))) return false;
      this.shape.setBackends(obj, backends);
      return true;
    });
    const back = nonZero(await this.getWeights());
    const same = Object.keys(back).length === Object.keys(live).length && Object.entries(live).every(([r, w]) => back[r] === w);
    if (!same) throw new TrafficMismatchError(`${this.shape.describe()} reads back ${formatWeights(back)} after zdd wrote ${formatWeights(live)}`);
  }

  async setTestRoute(revisionId: string | null): Promise<void> {
    if (!this.testHeader) throw new ProviderError('The header test route is disabled (router.testRoute: false)', { code: 'kube-no-test-route' });
    const service = revisionId === null ? null : await this.platform.revisionServiceName(revisionId, this.baseService);
    await this.write((obj) => {
      if (this.shape.testBackend(obj) === service) return false;
      this.shape.setTestBackend(obj, service);
      return true;
    });
    const back = this.shape.testBackend(await this.read());
    if (back !== service) throw new TrafficMismatchError(`${this.shape.describe()}: zdd's header route reads back ${back ?? 'absent'} after zdd set it to ${service ?? 'absent'}`);
  }

  async testRoute(): Promise<string | null> {
    if (!this.testHeader) return null;
    const svc = this.shape.testBackend(await this.read());
    return svc === null ? null : ((await this.revisionOf(svc)) ?? svc);
  }

  private async weightsOf(obj: KubeObject): Promise<WeightMap> {
    const out: WeightMap = {};
    for (const b of this.shape.backends(obj)) {
      const rev = (await this.revisionOf(b.service)) ?? b.service;
      out[rev] = (out[rev] ?? 0) + b.weight;
    }
    return out;
  }

  private async read(): Promise<KubeObject> {
    const obj = await this.api.get(this.shape.resource, this.objectName);
    if (!obj) throw missing(this.shape.resource, this.objectName, this.api.namespace);
    return obj;
  }

  /** One read-change-replace with the resourceVersion read; zdd claims the object's weighted route by annotation. */
  private async write(change: (obj: KubeObject) => boolean): Promise<void> {
    await this.api.update(
      this.shape.resource,
      this.objectName,
      (obj) => {
        this.checkOwner(obj);
        const changed = change(obj);
        const claimed = obj.metadata.annotations?.[ROUTE_OWNER_ANNOTATION] === this.owner;
        if (!changed && claimed) return null;
        obj.metadata.annotations = { ...obj.metadata.annotations, [ROUTE_OWNER_ANNOTATION]: this.owner };
        return obj;
      },
      () => this.conflicts++,
    );
  }

  /** The annotation says which zdd service weights which route: another one's claim is refused. */
  private checkOwner(obj: KubeObject): void {
    const claim = obj.metadata.annotations?.[ROUTE_OWNER_ANNOTATION];
    if (claim && claim !== this.owner) {
      throw new ProviderError(`${this.shape.describe()} is weighted by zdd for "${claim}" (annotation ${ROUTE_OWNER_ANNOTATION}), not "${this.owner}": zdd leaves it alone`, {
        code: 'kube-not-owned',
        hint: 'Two zdd services cannot weight the same route: give each its own route. If that service is gone, remove the annotation.',
      });
    }
  }

  /** The revision a Service serves (its selector's zdd.dev/revision), or null when it is not a revision's. */
  private async revisionOf(service: string): Promise<string | null> {
    if (!this.revisionByService.has(service)) {
      const svc = await this.api.get<ServiceObject>(RESOURCES.service, service);
      const rev = svc?.spec.selector?.[REVISION_LABEL] ?? null;
      if (rev === null) return null; // not cached: it may be created or fixed later
      this.revisionByService.set(service, rev);
    }
    return this.revisionByService.get(service)!;
  }
}
