import type { Check, CheckContext, CheckFactory, Measurement } from '../core/checks.js';
import { ZddError } from '../core/errors.js';
import { describeFetchError } from './fetch-error.js';
import type { HttpCheckConfig } from './http-check-schema.js';

interface Probe {
  url: string;
  headers: Record<string, string>;
}

/**
 * HTTP probe. Target `candidate` goes through the test route when the provider has one (with its
 * headers), else to every instance of the candidate; `service` uses the production entry point;
 * `url` overrides both. Passes on any 2xx unless `expectStatus` says otherwise.
 */
export class HttpCheck implements Check {
  readonly type = 'http';
  constructor(
    readonly name: string,
    private readonly config: HttpCheckConfig,
  ) {}

  async measure(ctx: CheckContext): Promise<Measurement> {
    const probes = await this.probes(ctx);
    const method = this.config.method ?? 'GET';
    const outcomes = await Promise.all(probes.map((p) => this.probe(p, method, ctx.signal)));
    const failed = outcomes.filter((o) => !o.ok);
    const query = probes.map((p) => `${method} ${p.url}`).join(', ');
    const threshold = this.describeExpectation();
    const observed: Record<string, number | string | null> =
      outcomes.length === 1 ? { status: outcomes[0].status } : Object.fromEntries(outcomes.map((o) => [o.url, o.status]));
    if (failed.length === 0) {
      const statuses = [...new Set(outcomes.map((o) => o.status))].join(', ');
      return { verdict: 'pass', message: `${query} answered ${statuses}${outcomes.length > 1 ? ` on all ${outcomes.length} instances` : ''}`, query, observed, threshold };
    }
    const f = failed[0];
    const more = failed.length > 1 ? ` (and ${failed.length - 1} more of ${outcomes.length})` : '';
    return { verdict: 'fail', message: `${method} ${f.url} ${f.problem}, expected ${threshold}${more}`, query, observed, threshold };
  }

  private async probes(ctx: CheckContext): Promise<Probe[]> {
    const headers = { ...(this.config.headers ?? {}) };
    if (this.config.url) return [{ url: this.config.url, headers }];
    const path = this.config.path ?? '/';
    if (this.config.target === 'service') {
      const ep = await ctx.endpoints('candidate');
      if (!ep.serviceUrl) throw new ZddError('no-endpoint', `check "${this.name}": the provider reports no service URL`, { hint: 'Set `url` on the check.' });
      return [{ url: joinUrl(ep.serviceUrl, path), headers }];
    }
    const ep = await ctx.endpoints('candidate');
    if (ep.testUrl) return [{ url: joinUrl(ep.testUrl, path), headers: { ...(ep.testHeaders ?? {}), ...headers } }];
    if (ep.instanceUrls?.length) return ep.instanceUrls.map((u) => ({ url: joinUrl(u, path), headers }));
    throw new ZddError('no-endpoint', `check "${this.name}": the provider gives no way to reach candidate ${ctx.candidate.id} (no test route, no instance URLs)`, {
      hint: 'Set `url` on the check, or use target: "service".',
    });
  }

  private async probe(p: Probe, method: string, signal: AbortSignal): Promise<{ url: string; ok: boolean; status: number; problem: string }> {
    let res: Response;
    try {
      res = await fetch(p.url, { method, headers: p.headers, signal, redirect: 'manual' });
    } catch (e) {
      if (signal.aborted) throw e;
      // Could not measure (an error, not a failure): say where and why.
      throw new Error(describeFetchError(method, p.url, e));
    }
    const statusOk = this.statusOk(res.status);
    if (this.config.bodyIncludes !== undefined && statusOk && method !== 'HEAD') {
      const body = await res.text();
      const found = body.includes(this.config.bodyIncludes);
      return { url: p.url, ok: found, status: res.status, problem: found ? '' : `answered ${res.status} but the body does not contain ${JSON.stringify(this.config.bodyIncludes)}` };
    }
    await res.body?.cancel();
    return { url: p.url, ok: statusOk, status: res.status, problem: `answered ${res.status}` };
  }

  private statusOk(status: number): boolean {
    const e = this.config.expectStatus;
    if (e === undefined) return status >= 200 && status < 300;
    return Array.isArray(e) ? e.includes(status) : e === status;
  }

  private describeExpectation(): string {
    const e = this.config.expectStatus;
    const status = e === undefined ? 'status 2xx' : Array.isArray(e) ? `status ${e.join(' or ')}` : `status ${e}`;
    return this.config.bodyIncludes !== undefined ? `${status} and a body containing ${JSON.stringify(this.config.bodyIncludes)}` : status;
  }
}

/** `http://host:1/base` + `/health` → `http://host:1/base/health` (keeps a query on the path). */
export function joinUrl(base: string, path: string): string {
  if (path === '/' || path === '') return base;
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

export const httpCheck: CheckFactory<HttpCheckConfig> = {
  create: (config, name) => new HttpCheck(name, config),
};
