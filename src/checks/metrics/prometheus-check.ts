import { describeFetchError } from '../fetch-error.js';
import type { Check, CheckContext, CheckFactory, Measurement } from '../../core/checks.js';
import { ZddError } from '../../core/errors.js';
import { formatDuration } from '../../core/plan.js';
import { DEFAULT_THRESHOLDS } from '../threshold-schema.js';
import { DEFAULT_MIN_REQUESTS, mannWhitneyOutcome } from './judge-traffic.js';
import type { Condition, PrometheusCheckConfig } from './schemas.js';
import { renderTemplate } from './render-template.js';
import { mean } from './statistics.js';

/** One series of a query result: its labels and its values (one for an instant query). */
export interface PromSeries {
  labels: string;
  values: number[];
}

/** A query Prometheus refused (bad PromQL, unknown function): retrying cannot help. */
class PromQueryRejected extends Error {}

/**
 * A PromQL check against a Prometheus HTTP API: the candidate's query must meet the success
 * condition, optionally compared with the same query for stable (difference, ratio,
 * Mann-Whitney on range samples), with a traffic guard that makes thin data inconclusive.
 */
export class PrometheusCheck implements Check {
  readonly type = 'prometheus';
  constructor(
    readonly name: string,
    private readonly config: PrometheusCheckConfig,
  ) {}

  async measure(ctx: CheckContext): Promise<Measurement> {
    const c = this.config;
    const vars = templateVars(ctx, c.interval ?? DEFAULT_THRESHOLDS.intervalMs);
    const query = renderTemplate(c.query, vars);
    const stableQuery = c.stableQuery !== undefined ? renderTemplate(c.stableQuery, vars) : undefined;
    const threshold = this.describeThreshold();
    if (query === null) return { query: c.query, threshold, verdict: 'inconclusive', message: 'the query names {{stable}} but this deploy has no stable revision' };
    const base = { query: stableQuery ? `${query} vs ${stableQuery}` : query, threshold };

    try {
      const observed: Record<string, number | string | null> = {};
      if (c.trafficQuery !== undefined) {
        const tq = renderTemplate(c.trafficQuery, vars);
        const need = c.minRequests ?? DEFAULT_MIN_REQUESTS;
        if (tq !== null) {
          const requests = sum(await this.run(tq, ctx.signal, false));
          observed.candidateRequests = requests;
          if (requests < Math.max(1, need)) {
            return { ...base, observed, verdict: 'inconclusive', message: `too little traffic (${fmt(requests)} requests, need ${need}) on candidate ${ctx.candidate.id}` };
          }
        }
      }

      const series = await this.run(query, ctx.signal, c.range !== undefined);
      const points = series.flatMap((s) => s.values).filter((v) => !Number.isNaN(v));
      if (points.length === 0) {
        return { ...base, observed, verdict: 'inconclusive', message: series.length ? 'the query returned only NaN (no traffic in the window?)' : 'the query returned no data' };
      }
      observed.candidate = series.length === 1 && series[0].values.length === 1 ? series[0].values[0] : mean(points);
      const failures: string[] = [];
      if (c.successCondition) {
        const bad = worstViolation(series, c.successCondition);
        if (bad) {
          observed.candidate = bad.value;
          failures.push(`candidate value ${fmt(bad.value)}${series.length > 1 ? ` for ${bad.labels}` : ''} is not ${c.successCondition.text}`);
        }
      }

      if (stableQuery !== undefined) {
        if (stableQuery === null) {
          if (!c.successCondition) return { ...base, observed, verdict: 'inconclusive', message: 'no stable revision to compare with' };
        } else if (failures.length === 0) {
          const stableSeries = await this.run(stableQuery, ctx.signal, c.range !== undefined);
          const stablePoints = stableSeries.flatMap((s) => s.values).filter((v) => !Number.isNaN(v));
          if (stablePoints.length === 0) {
            if (!c.successCondition) return { ...base, observed, verdict: 'inconclusive', message: 'the stable query returned no data to compare with' };
          } else {
            const cv = mean(points);
            const sv = mean(stablePoints);
            observed.candidate = cv;
            observed.stable = sv;
            if (c.maxIncrease !== undefined && cv - sv > c.maxIncrease) {
              failures.push(`candidate value ${fmt(cv)} is ${fmt(cv - sv)} above stable's ${fmt(sv)} (max +${fmt(c.maxIncrease)})`);
            }
            if (c.maxRatio !== undefined) {
              const ratio = sv === 0 ? (cv === 0 ? 1 : Number.POSITIVE_INFINITY) : cv / sv;
              observed.ratio = Number.isFinite(ratio) ? ratio : null;
              if (ratio > c.maxRatio) failures.push(`candidate value ${fmt(cv)} is ${Number.isFinite(ratio) ? `${fmt(ratio)}x` : 'infinitely above'} stable's ${fmt(sv)} (max ${fmt(c.maxRatio)}x)`);
            }
            if (c.mannWhitney) {
              const mw = mannWhitneyOutcome(points, stablePoints, c.mannWhitney);
              if (mw.skipped) {
                if (!c.successCondition && c.maxIncrease === undefined && c.maxRatio === undefined) return { ...base, observed, verdict: 'inconclusive', message: mw.skipped };
              } else {
                observed.mannWhitneyU = mw.u!;
                observed.mannWhitneyP = mw.p!;
                if (mw.failure) failures.push(mw.failure.replace('candidate latency', 'candidate'));
              }
            }
          }
        }
      }

      if (failures.length) return { ...base, observed, verdict: 'fail', message: failures.join('; ') };
      const parts = [`candidate value ${fmt(observed.candidate as number)}`];
      if (typeof observed.stable === 'number') parts.push(`stable ${fmt(observed.stable)}`);
      if (typeof observed.mannWhitneyP === 'number') parts.push(`Mann-Whitney p=${fmt(observed.mannWhitneyP)}`);
      return { ...base, observed, verdict: 'pass', message: `${parts.join(', ')} meets ${threshold}` };
    } catch (e) {
      if (e instanceof PromQueryRejected) return { ...base, verdict: 'fail', message: e.message };
      throw e;
    }
  }

  /** Runs an instant query (or a range query over `range`) and returns its series. */
  async run(query: string, signal: AbortSignal, range: boolean): Promise<PromSeries[]> {
    const c = this.config;
    const params = new URLSearchParams({ query });
    let path = '/api/v1/query';
    if (range && c.range !== undefined) {
      // Evaluated against the server's data, so the window ends at the real time, not a test clock's.
      const end = Date.now() / 1000;
      const step = (c.step ?? Math.max(1000, Math.round(c.range / 30))) / 1000;
      params.set('start', String(end - c.range / 1000));
      params.set('end', String(end));
      params.set('step', String(step));
      path = '/api/v1/query_range';
    }
    const url = `${c.address.replace(/\/+$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(c.headers ?? {}) },
        body: params.toString(),
        signal,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new Error(`Prometheus ${describeFetchError('POST', url, e)}`);
    }
    const text = await res.text();
    let body: { status?: string; errorType?: string; error?: string; data?: { resultType: string; result: unknown } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new ZddError('prometheus-unavailable', `Prometheus at ${c.address} answered ${res.status} with something that is not its API: ${text.slice(0, 120)}`, {
        hint: 'Check `address` points at the Prometheus server (the /api/v1 endpoints must be under it).',
      });
    }
    if (res.status === 401 || res.status === 403) throw new PromQueryRejected(`Prometheus at ${c.address} refused the query (${res.status}${body.error ? `: ${body.error}` : ''}); check the check's headers`);
    if (body.status !== 'success' || !body.data) {
      const why = `${body.errorType ?? res.status}: ${body.error ?? 'no error message'}`;
      if (body.errorType === 'bad_data') throw new PromQueryRejected(`Prometheus rejected the query ${JSON.stringify(query)} (${why})`);
      throw new ZddError('prometheus-error', `Prometheus at ${c.address} could not run the query (${why})`);
    }
    return toSeries(body.data);
  }

  private describeThreshold(): string {
    const c = this.config;
    const parts: string[] = [];
    if (c.trafficQuery !== undefined) parts.push(`requests >= ${c.minRequests ?? DEFAULT_MIN_REQUESTS}`);
    if (c.successCondition) parts.push(`${c.range !== undefined ? `every point over ${formatDuration(c.range)}` : 'value'} ${c.successCondition.text}`);
    if (c.maxIncrease !== undefined) parts.push(`<= stable + ${fmt(c.maxIncrease)}`);
    if (c.maxRatio !== undefined) parts.push(`<= ${fmt(c.maxRatio)}x stable`);
    if (c.mannWhitney) parts.push(`not significantly above stable (Mann-Whitney p >= ${c.mannWhitney.significance ?? 0.01})`);
    return parts.join(', ');
  }
}

function templateVars(ctx: CheckContext, intervalMs: number): Record<string, string | null> {
  return {
    candidate: ctx.candidate.id,
    stable: ctx.stable?.id ?? null,
    service: ctx.service,
    interval: `${Math.max(1, Math.round(intervalMs / 1000))}s`,
  };
}

function toSeries(data: { resultType: string; result: unknown }): PromSeries[] {
  const num = (v: unknown) => Number(v); // "NaN", "+Inf" and "-Inf" parse as such
  switch (data.resultType) {
    case 'scalar': {
      const [, v] = data.result as [number, string];
      return [{ labels: '{}', values: [num(v)] }];
    }
    case 'vector':
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ labels: labelText(r.metric), values: [num(r.value[1])] }));
    case 'matrix':
      return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({ labels: labelText(r.metric), values: r.values.map((p) => num(p[1])) }));
    default:
      throw new PromQueryRejected(`the query returned a ${data.resultType}, not numbers`);
  }
}

function labelText(metric: Record<string, string>): string {
  return `{${Object.entries(metric).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}

function worstViolation(series: PromSeries[], cond: Condition): { value: number; labels: string } | undefined {
  let worst: { value: number; labels: string } | undefined;
  for (const s of series) {
    for (const v of s.values) {
      if (Number.isNaN(v) || satisfies(v, cond)) continue;
      if (!worst || Math.abs(v - cond.value) > Math.abs(worst.value - cond.value)) worst = { value: v, labels: s.labels };
    }
  }
  return worst;
}

export function satisfies(v: number, cond: Condition): boolean {
  switch (cond.op) {
    case '<':
      return v < cond.value;
    case '<=':
      return v <= cond.value;
    case '>':
      return v > cond.value;
    case '>=':
      return v >= cond.value;
    case '==':
      return v === cond.value;
    case '!=':
      return v !== cond.value;
  }
}

function sum(series: PromSeries[]): number {
  let s = 0;
  for (const x of series) for (const v of x.values) if (!Number.isNaN(v)) s += v;
  return s;
}

/** Four significant digits, no exponent for everyday values. */
function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

export const prometheusCheck: CheckFactory<PrometheusCheckConfig> = {
  create: (config, name) => new PrometheusCheck(name, config),
};
