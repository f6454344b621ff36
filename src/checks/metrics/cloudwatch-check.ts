import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { Check, CheckContext, CheckFactory, Measurement } from '../../core/checks.js';
import { ZddError, errorMessage } from '../../core/errors.js';
import type { Role } from '../../core/plan.js';
import type { AlbDimensions } from './alb-dimensions.js';
import { createCloudWatchClient, loadCloudWatchSdk, type CloudWatchSender } from './cloudwatch-client.js';
import { DEFAULT_MIN_REQUESTS, judgeTraffic, type TrafficSide } from './judge-traffic.js';
import type { CloudwatchCheckConfig } from './schemas.js';

const MINUTE = 60_000;
const NAMESPACE = 'AWS/ApplicationELB';
/** Newest complete minutes left out by default: ALB metrics arrive late (see the class comment). */
const DEFAULT_SETTLE_MS = MINUTE;

/** Per-minute sums for one target group over the window. */
export interface TargetGroupMinutes {
  requests: number;
  errors: number;
  /** Mean TargetResponseTime in ms, weighted by each minute's RequestCount. */
  latencyMs?: number;
  minutes: number;
}

/**
 * ALB per-target-group metrics for the candidate and stable: RequestCount,
 * HTTPCode_Target_5XX_Count and TargetResponseTime over whole minutes. The current, incomplete
 * minute is left out, and so are the `settle` newest complete ones (default 1): ALB metrics arrive
 * a minute or more late, and a minute read half-published can show its requests before its 5xx.
 * Rates are computed here, not with metric math, and judged with the same rules as the router check.
 */
export class CloudwatchCheck implements Check {
  readonly type = 'cloudwatch';
  private client?: Promise<CloudWatchSender>;
  /** LoadBalancer dimension found through ListMetrics, per target group. */
  private readonly discovered = new Map<string, string>();

  private readonly now: () => number;

  /** `now` is the wall clock the metric window is cut from; tests pin it. */
  constructor(
    readonly name: string,
    private readonly config: CloudwatchCheckConfig,
    deps: { client?: CloudWatchSender; now?: () => number } = {},
  ) {
    if (deps.client) this.client = Promise.resolve(deps.client);
    this.now = deps.now ?? Date.now;
  }

  async measure(ctx: CheckContext): Promise<Measurement> {
    const c = this.config;
    const candidateIds = await providerIds(ctx, 'candidate');
    const stableIds = ctx.stable ? await providerIds(ctx, 'stable') : {};
    const candidateTg = targetGroupDimension(c.candidateTargetGroup ?? candidateIds.targetGroup);
    if (!candidateTg) {
      // Permanent: asking again cannot help, so this fails at once instead of counting as an error.
      return {
        verdict: 'fail',
        query: `${NAMESPACE} metrics of candidate ${ctx.candidate.id}`,
        message: `no target group known for candidate ${ctx.candidate.id}: the provider reports none; set candidateTargetGroup (and stableTargetGroup) on the check`,
      };
    }
    const stableTg = ctx.stable ? targetGroupDimension(c.stableTargetGroup ?? stableIds.targetGroup) : undefined;

    const windowMs = c.window ?? Math.max(MINUTE, Math.ceil((c.interval ?? MINUTE) / MINUTE) * MINUTE);
    // ALB metrics are stamped with the real time the requests happened, so the window is cut from
    // the wall clock, not from ctx.clock (which a test may run fast).
    const end = Math.floor(this.now() / MINUTE) * MINUTE - (c.settle ?? DEFAULT_SETTLE_MS);
    const start = end - windowMs;
    const sdk = await loadCloudWatchSdk();
    this.client ??= createCloudWatchClient(c.region ?? candidateIds.region);
    const client = await this.client;

    const lbFor = async (tg: string) =>
      loadBalancerDimension(c.loadBalancer ?? candidateIds.loadBalancer ?? stableIds.loadBalancer) ?? (await this.discoverLoadBalancer(client, sdk, tg, ctx.signal));
    const candidateLb = await lbFor(candidateTg);
    if (!candidateLb) {
      // No metric has been published for the group yet: no data, not a verdict.
      return {
        verdict: 'inconclusive',
        query: `ListMetrics ${NAMESPACE} RequestCount TargetGroup=${candidateTg}`,
        message: `no ALB metrics yet for ${candidateTg}, so its load balancer is unknown (set loadBalancer on the check to skip this lookup)`,
      };
    }
    const groups: { key: 'c' | 's'; tg: string; lb: string }[] = [{ key: 'c', tg: candidateTg, lb: candidateLb }];
    const stableLb = stableTg ? ((await lbFor(stableTg)) ?? candidateLb) : undefined;
    if (stableTg && stableLb) groups.push({ key: 's', tg: stableTg, lb: stableLb });

    const queries: MetricDataQuery[] = groups.flatMap((g) => [
      metricQuery(`${g.key}req`, 'RequestCount', 'Sum', g),
      metricQuery(`${g.key}err`, 'HTTPCode_Target_5XX_Count', 'Sum', g),
      metricQuery(`${g.key}rt`, 'TargetResponseTime', 'Average', g),
    ]);
    let results;
    try {
      const res = await client.send(
        new sdk.GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(start), EndTime: new Date(end), ScanBy: 'TimestampAscending' }),
        { abortSignal: ctx.signal },
      );
      results = res.MetricDataResults ?? [];
    } catch (e) {
      throw new ZddError('cloudwatch', `CloudWatch GetMetricData failed: ${errorMessage(e)}`, { cause: e, hint: 'The check needs cloudwatch:GetMetricData, credentials and a region (config region or AWS_REGION).' });
    }
    const series = (id: string) => {
      const r = results.find((x) => x.Id === id);
      const out = new Map<number, number>();
      (r?.Timestamps ?? []).forEach((t, i) => {
        const at = new Date(t).getTime();
        // Only whole minutes inside the window count, whatever the server returns.
        if (at >= start && at < end) out.set(at, r!.Values![i]);
      });
      return out;
    };
    const side = (key: 'c' | 's', revision: string): TrafficSide => {
      const m = sumMinutes(series(`${key}req`), series(`${key}err`), series(`${key}rt`));
      return { revision, requests: m.requests, errors: m.errors, latencyMs: m.latencyMs };
    };
    const window = `${formatMinute(start)}–${formatMinute(end)} UTC`;
    const query = `${NAMESPACE} RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime for ${candidateTg}${stableTg ? ` vs ${stableTg}` : ''}, ${window}`;
    return judgeTraffic(
      side('c', ctx.candidate.id),
      ctx.stable && stableTg ? side('s', ctx.stable.id) : null,
      {
        minRequests: c.minRequests ?? DEFAULT_MIN_REQUESTS,
        maxErrorRate: c.maxErrorRate,
        maxErrorRateIncrease: c.maxErrorRateIncrease,
        maxLatencyMs: c.maxLatency,
        maxLatencyRatio: c.maxLatencyRatio,
        latencyLabel: 'mean latency',
      },
      query,
    );
  }

  /** ALB metrics carry the LoadBalancer dimension too: find it from the target group's own metrics. */
  private async discoverLoadBalancer(client: CloudWatchSender, sdk: Awaited<ReturnType<typeof loadCloudWatchSdk>>, tg: string, signal: AbortSignal): Promise<string | undefined> {
    const known = this.discovered.get(tg);
    if (known) return known;
    const res = await client.send(
      new sdk.ListMetricsCommand({ Namespace: NAMESPACE, MetricName: 'RequestCount', Dimensions: [{ Name: 'TargetGroup', Value: tg }] }),
      { abortSignal: signal },
    );
    const lb = res.Metrics?.flatMap((m) => m.Dimensions ?? []).find((d) => d.Name === 'LoadBalancer')?.Value;
    if (lb) this.discovered.set(tg, lb);
    return lb;
  }
}

function metricQuery(id: string, metric: string, stat: string, g: { tg: string; lb: string }): MetricDataQuery {
  return {
    Id: id,
    ReturnData: true,
    MetricStat: {
      Metric: { Namespace: NAMESPACE, MetricName: metric, Dimensions: [{ Name: 'TargetGroup', Value: g.tg }, { Name: 'LoadBalancer', Value: g.lb }] },
      Period: 60,
      Stat: stat,
    },
  };
}

/**
 * Adds up per-minute datapoints. A minute without a 5XX datapoint had no 5xx (ALB publishes
 * those counts only when non-zero); latency is weighted by each minute's request count.
 */
export function sumMinutes(requests: Map<number, number>, errors: Map<number, number>, latencySec: Map<number, number>): TargetGroupMinutes {
  let req = 0;
  let err = 0;
  let weighted = 0;
  let weight = 0;
  for (const [at, n] of requests) {
    req += n;
    err += errors.get(at) ?? 0;
    const rt = latencySec.get(at);
    if (rt !== undefined && n > 0) {
      weighted += rt * 1000 * n;
      weight += n;
    }
  }
  return { requests: req, errors: Math.min(err, req), latencyMs: weight > 0 ? weighted / weight : undefined, minutes: requests.size };
}

/** `arn:…:targetgroup/web-a/0123` or `targetgroup/web-a/0123` → `targetgroup/web-a/0123`. */
export function targetGroupDimension(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = /(targetgroup\/[^/]+\/[^/]+)$/.exec(v);
  return m ? m[1] : v;
}

/** `arn:…:loadbalancer/app/web/0123` or `app/web/0123` → `app/web/0123`. */
export function loadBalancerDimension(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = /loadbalancer\/(app\/[^/]+\/[^/]+)$/.exec(v);
  return m ? m[1] : v;
}

/** Where the provider says a revision's ALB metrics are (`endpoints().metricDimensions.alb`). */
async function providerIds(ctx: CheckContext, role: Role): Promise<{ targetGroup?: string; loadBalancer?: string; region?: string }> {
  let alb: AlbDimensions | undefined;
  try {
    alb = (await ctx.endpoints(role)).metricDimensions?.alb;
  } catch {
    // a provider that cannot say leaves it to the check's config
  }
  return { targetGroup: alb?.targetGroupArn, loadBalancer: alb?.loadBalancerArn, region: alb?.region };
}

function formatMinute(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

export const cloudwatchCheck: CheckFactory<CloudwatchCheckConfig> = {
  create: (config, name) => new CloudwatchCheck(name, config),
};
