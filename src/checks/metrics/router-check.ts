import type { Check, CheckContext, CheckFactory, Measurement } from '../../core/checks.js';
import { formatDuration } from '../../core/plan.js';
import type { RevisionTrafficSample } from '../../core/provider.js';
import { DEFAULT_THRESHOLDS } from '../threshold-schema.js';
import { DEFAULT_MIN_REQUESTS, judgeTraffic, type TrafficSide } from './judge-traffic.js';
import type { LatencyStatistic, RouterCheckConfig } from './schemas.js';
import { mean, percentile } from './statistics.js';

/**
 * Judges the candidate (against stable) from the per-revision counts the traffic router keeps
 * (the local router): error rate, latency, and a Mann-Whitney test on the latency samples.
 */
export class RouterCheck implements Check {
  readonly type = 'router';
  constructor(
    readonly name: string,
    private readonly config: RouterCheckConfig,
  ) {}

  async measure(ctx: CheckContext): Promise<Measurement> {
    const windowMs = this.config.window ?? this.config.interval ?? DEFAULT_THRESHOLDS.intervalMs;
    const ids = ctx.stable ? [ctx.candidate.id, ctx.stable.id] : [ctx.candidate.id];
    const query = `router traffic over the last ${formatDuration(windowMs)} (candidate ${ctx.candidate.id}${ctx.stable ? `, stable ${ctx.stable.id}` : ''})`;
    if (!ctx.router.trafficSample) {
      return { verdict: 'fail', query, message: 'this provider\'s traffic router keeps no per-revision counts: the router check works with the local provider only (use prometheus or cloudwatch checks elsewhere)' };
    }
    const samples = await ctx.router.trafficSample(ids, windowMs);
    const stat = this.config.latencyStatistic ?? 'p95';
    const side = (id: string): TrafficSide => toSide(samples.find((s) => s.revision === id) ?? { revision: id, requests: 0, errors: 0 }, stat);
    const m = judgeTraffic(
      side(ctx.candidate.id),
      ctx.stable ? side(ctx.stable.id) : null,
      {
        minRequests: this.config.minRequests ?? DEFAULT_MIN_REQUESTS,
        maxErrorRate: this.config.maxErrorRate,
        maxErrorRateIncrease: this.config.maxErrorRateIncrease,
        maxLatencyMs: this.config.maxLatency,
        maxLatencyRatio: this.config.maxLatencyRatio,
        mannWhitney: this.config.mannWhitney,
        latencyLabel: `${stat} latency`,
      },
      query,
    );
    // Production traffic only: requests through the test route (anyone may send the header) never count.
    const ignored = samples.reduce((n, s) => n + (s.testRouteRequests ?? 0), 0);
    if (samples.some((s) => s.testRouteRequests !== undefined)) {
      m.observed = { ...(m.observed ?? {}), testRouteRequestsIgnored: ignored };
      m.message = `${m.message} (production traffic only; ${ignored} test-route request${ignored === 1 ? '' : 's'} ignored)`;
    }
    return m;
  }
}

function toSide(s: RevisionTrafficSample, stat: LatencyStatistic): TrafficSide {
  const lat = s.latenciesMs;
  const latencyMs = lat && lat.length ? (stat === 'mean' ? mean(lat) : percentile(lat, Number(stat.slice(1)))) : undefined;
  return { revision: s.revision, requests: s.requests, errors: s.errors, latencyMs, latenciesMs: lat };
}

export const routerCheck: CheckFactory<RouterCheckConfig> = {
  create: (config, name) => new RouterCheck(name, config),
};
