import { ProviderError } from '../../core/errors.js';
import { RESOURCES, type KubeObject } from './kube-api.js';
import type { Backend, RouteShape } from './weighted-route-router.js';

interface Destination {
  destination: { host: string; subset?: string; port?: unknown; [k: string]: unknown };
  weight?: number;
  [k: string]: unknown;
}
interface HttpRoute {
  name?: string;
  match?: unknown[];
  route?: Destination[];
  [k: string]: unknown;
}

/**
 * Where the weights live in an Istio VirtualService: `spec.http[name=<route>].route[].weight`,
 * one destination per revision Service. zdd's test route is its own http entry, named
 * `zdd-test-<service>`, placed just before the weighted one with a header match.
 */
export class IstioRoute implements RouteShape {
  readonly resource = RESOURCES.virtualService;
  constructor(
    private readonly virtualService: string,
    private readonly route: string,
    private readonly owner: string,
    private readonly header: { header: string; value: string } | null,
  ) {}

  describe(): string {
    return `VirtualService ${this.virtualService}, route "${this.route}"`;
  }

  private get testRouteName(): string {
    return `zdd-test-${this.owner}`;
  }

  private http(obj: KubeObject): HttpRoute[] {
    const spec = (obj.spec ?? {}) as { http?: HttpRoute[] };
    return spec.http ?? [];
  }

  private weighted(obj: KubeObject): HttpRoute {
    const routes = this.http(obj);
    const r = routes.find((h) => h.name === this.route);
    if (!r) {
      const names = routes.map((h) => h.name).filter(Boolean);
      throw new ProviderError(`VirtualService ${this.virtualService} has no http route named "${this.route}" (routes: ${names.length ? names.join(', ') : 'none named'})`, {
        code: 'kube-route-missing',
        hint: 'Fix router.route in deploy.config.ts, or give the route a `name:` in the VirtualService.',
      });
    }
    return r;
  }

  backends(obj: KubeObject): Backend[] {
    const dests = this.weighted(obj).route ?? [];
    // Istio: a single destination without a weight takes everything.
    return dests.map((d) => ({ service: shortHost(d.destination.host), weight: d.weight ?? (dests.length === 1 ? 100 : 0) }));
  }

  setBackends(obj: KubeObject, backends: Backend[]): void {
    const r = this.weighted(obj);
    const old = r.route ?? [];
    r.route = backends.map((b) => {
      const same = old.find((d) => shortHost(d.destination.host) === b.service);
      if (same) return { ...same, weight: b.weight };
      const like = structuredClone(old[0] ?? { destination: { host: b.service } });
      const { subset: _subset, ...destination } = like.destination;
      return { ...like, destination: { ...destination, host: b.service }, weight: b.weight };
    });
  }

  testBackend(obj: KubeObject): string | null {
    const t = this.http(obj).find((h) => h.name === this.testRouteName);
    const host = t?.route?.[0]?.destination.host;
    return host ? shortHost(host) : null;
  }

  setTestBackend(obj: KubeObject, service: string | null): void {
    const spec = (obj.spec ??= {}) as { http?: HttpRoute[] };
    const routes = (spec.http ?? []).filter((h) => h.name !== this.testRouteName);
    if (service !== null && this.header) {
      const weighted = this.weighted(obj);
      const port = weighted.route?.[0]?.destination.port;
      const entry: HttpRoute = {
        name: this.testRouteName,
        match: [{ headers: { [this.header.header.toLowerCase()]: { exact: this.header.value } } }],
        route: [{ destination: { host: service, ...(port ? { port } : {}) } }],
      };
      routes.splice(routes.findIndex((h) => h.name === this.route), 0, entry);
    }
    spec.http = routes;
  }
}

/** `web.prod.svc.cluster.local` → `web` (zdd's Services live in the route's namespace). */
export function shortHost(host: string): string {
  return host.split('.')[0];
}
