import { ProviderError } from '../../core/errors.js';
import { RESOURCES, type KubeObject } from './kube-api.js';
import type { Backend, RouteShape } from './weighted-route-router.js';

interface BackendRef {
  name: string;
  kind?: string;
  group?: string;
  port?: number;
  weight?: number;
  [k: string]: unknown;
}
interface Rule {
  matches?: { headers?: { type?: string; name: string; value: string }[]; [k: string]: unknown }[];
  backendRefs?: BackendRef[];
  [k: string]: unknown;
}

/**
 * Where the weights live in a Gateway API HTTPRoute: `spec.rules[<rule>].backendRefs[].weight`,
 * one Service per revision. The weights zdd writes are percents (they sum to 100); weights the
 * user wrote are read as proportions, as the spec defines them. zdd's test route is a rule of its
 * own: the weighted rule's matches plus the header (more specific, so it wins), marked by an
 * annotation naming the header.
 */
export class GatewayApiRoute implements RouteShape {
  readonly resource = RESOURCES.httpRoute;
  constructor(
    private readonly httpRoute: string,
    private readonly rule: number,
    private readonly header: { header: string; value: string } | null,
  ) {}

  describe(): string {
    return `HTTPRoute ${this.httpRoute}, rule ${this.rule}`;
  }

  private rules(obj: KubeObject): Rule[] {
    return ((obj.spec ?? {}) as { rules?: Rule[] }).rules ?? [];
  }

  /** The weighted rule: the rule-th rule that is not zdd's test rule. */
  private weighted(obj: KubeObject): Rule {
    const rules = this.rules(obj).filter((r) => !this.isTestRule(r));
    const r = rules[this.rule];
    if (!r) {
      throw new ProviderError(`HTTPRoute ${this.httpRoute} has no rule ${this.rule} (it has ${rules.length})`, {
        code: 'kube-route-missing',
        hint: 'Fix router.rule in deploy.config.ts (rules count from 0).',
      });
    }
    return r;
  }

  backends(obj: KubeObject): Backend[] {
    const refs = (this.weighted(obj).backendRefs ?? []).filter((b) => (b.kind ?? 'Service') === 'Service');
    // The Gateway API's default weight is 1; weights are proportions.
    const total = refs.reduce((a, b) => a + (b.weight ?? 1), 0);
    return refs.map((b) => ({ service: b.name, weight: total === 0 ? 0 : Math.round(((b.weight ?? 1) * 100) / total) }));
  }

  setBackends(obj: KubeObject, backends: Backend[]): void {
    const r = this.weighted(obj);
    const old = r.backendRefs ?? [];
    r.backendRefs = backends.map((b) => {
      const same = old.find((o) => o.name === b.service && (o.kind ?? 'Service') === 'Service');
      if (same) return { ...same, weight: b.weight };
      return { ...structuredClone(old[0] ?? { name: b.service }), name: b.service, weight: b.weight };
    });
  }

  private isTestRule(r: Rule): boolean {
    return !!this.header && (r.matches ?? []).some((m) => (m.headers ?? []).some((h) => h.name.toLowerCase() === this.header!.header.toLowerCase() && h.value === this.header!.value))
      && (r.backendRefs ?? []).length === 1;
  }

  testBackend(obj: KubeObject): string | null {
    const t = this.rules(obj).find((r) => this.isTestRule(r));
    return t?.backendRefs?.[0]?.name ?? null;
  }

  setTestBackend(obj: KubeObject, service: string | null): void {
    const spec = (obj.spec ??= {}) as { rules?: Rule[] };
    const weighted = this.weighted(obj);
    const rules = (spec.rules ?? []).filter((r) => !this.isTestRule(r));
    if (service !== null && this.header) {
      const header = { type: 'Exact', name: this.header.header, value: this.header.value };
      const matches = (weighted.matches?.length ? weighted.matches : [{}]).map((m) => ({ ...structuredClone(m), headers: [...(m.headers ?? []), header] }));
      const port = weighted.backendRefs?.[0]?.port;
      rules.push({ matches, backendRefs: [{ name: service, ...(port ? { port } : {}) }] });
    }
    spec.rules = rules;
  }
}
