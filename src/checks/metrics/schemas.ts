import { z } from 'zod';
import { duration, intBetween, nonEmptyString, show } from '../../config/schema-helpers.js';
import { formatDuration } from '../../core/plan.js';
import { thresholdFields } from '../threshold-schema.js';

/**
 * Metric checks: Prometheus, CloudWatch (ALB per target group), CloudWatch alarms, and the local
 * router's per-revision counts. Thresholds are plain data; every field is described because the
 * README's config reference is generated from these schemas.
 */

function numberBetween(min: number, max: number, description: string) {
  return z
    .number({ error: (iss) => `must be a number ${min}–${max}, got ${show(iss.input)}` })
    .min(min, { error: (iss) => `must be ${min}–${max}, got ${show(iss.input)}` })
    .max(max, { error: (iss) => `must be ${min}–${max}, got ${show(iss.input)}` })
    .describe(description);
}

export const LATENCY_STATISTICS = ['mean', 'p50', 'p90', 'p95', 'p99'] as const;
export type LatencyStatistic = (typeof LATENCY_STATISTICS)[number];

export const mannWhitneySchema = z
  .strictObject({
    significance: numberBetween(0, 1, 'Fail when the two-sided p-value is below this (default 0.01)').optional(),
    minSamples: intBetween(3, 1_000_000, 'Latency samples needed on each side to run the test (default 20)').optional(),
    minMedianRatio: numberBetween(1, 1000, 'Only a candidate median at least this multiple of stable\'s counts as a regression, so a tiny but significant difference passes (default 1.1)').optional(),
  })
  .describe('Mann-Whitney U test of candidate against stable latency samples (as Kayenta does): fails when the candidate is significantly slower');
export type MannWhitneyConfig = z.output<typeof mannWhitneySchema>;

/** Candidate-versus-stable rules over request counts, shared by the router and CloudWatch checks. */
const trafficRuleFields = {
  minRequests: intBetween(0, 1_000_000_000, 'Requests a revision needs in the window for a verdict; fewer is inconclusive, never a pass (default 20)').optional(),
  maxErrorRate: numberBetween(0, 100, 'Highest candidate error (5xx) rate allowed, in percent of its requests (5 = 5%)').optional(),
  maxErrorRateIncrease: numberBetween(0, 100, 'Highest candidate error rate allowed above stable\'s over the same window, in percentage points (needs minRequests on both)').optional(),
  maxLatency: duration('Highest candidate latency allowed (the latency statistic), e.g. "300ms"').optional(),
  maxLatencyRatio: numberBetween(1, 1000, 'Highest candidate latency allowed as a multiple of stable\'s (1.5 = at most 50% slower; needs minRequests on both)').optional(),
};

const TRAFFIC_RULES = ['maxErrorRate', 'maxErrorRateIncrease', 'maxLatency', 'maxLatencyRatio', 'mannWhitney'] as const;

function requireOneRule(keys: readonly string[]) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if (keys.some((k) => v[k] !== undefined)) return;
    ctx.addIssue({ code: 'custom', path: [], message: `needs at least one rule: ${keys.join(', ')} (e.g. maxErrorRate: 5)` });
  };
}

/** requireOneRule as JSON Schema says it (the refinement itself does not reach the JSON Schema). */
const oneRuleOf = (keys: readonly string[]) => ({ anyOf: keys.map((k) => ({ required: [k] })) });

export const routerCheckSchema = z
  .strictObject({
    type: z.literal('router'),
    ...thresholdFields,
    ...trafficRuleFields,
    window: duration('Look-back window of each measurement (default: the interval)').optional(),
    latencyStatistic: z.enum(LATENCY_STATISTICS, { error: `must be one of ${LATENCY_STATISTICS.join(', ')}` }).optional()
      .describe('Latency compared by maxLatency and maxLatencyRatio (default p95)'),
    mannWhitney: mannWhitneySchema.optional(),
  })
  .superRefine(requireOneRule(TRAFFIC_RULES))
  .meta({ description: 'Error rate and latency of the candidate (and stable) from the local router\'s per-revision counts', ...oneRuleOf(TRAFFIC_RULES) });
export type RouterCheckConfig = z.output<typeof routerCheckSchema>;

/** `"< 0.05"`, `">= 0.99"`, `"== 0"`: a comparison applied to every value the query returns. */
const CONDITION = /^\s*(<=|>=|==|!=|<|>)\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;
export type ConditionOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';
export interface Condition {
  op: ConditionOperator;
  value: number;
  text: string;
}

const badCondition = (s: unknown) => `must be an operator (<, <=, >, >=, ==, !=) and a number, like "< 0.05", got ${show(s)}`;
export const conditionSchema = z
  .string({ error: (iss) => `must be a comparison like "< 0.05", got ${show(iss.input)}` })
  .regex(CONDITION, { error: (iss) => badCondition(iss.input) })
  .transform((s, ctx): Condition => {
    const m = CONDITION.exec(s);
    if (!m) {
      ctx.issues.push({ code: 'custom', input: s, message: badCondition(s) });
      return z.NEVER;
    }
    return { op: m[1] as ConditionOperator, value: Number(m[2]), text: `${m[1]} ${m[2]}` };
  });

const PROMETHEUS_RULES = ['successCondition', 'maxIncrease', 'maxRatio', 'mannWhitney'] as const;

export const prometheusCheckSchema = z
  .strictObject({
    type: z.literal('prometheus'),
    ...thresholdFields,
    address: z.url({ error: 'must be the http(s) URL of the Prometheus server, e.g. "http://127.0.0.1:9090"' }).describe('Prometheus HTTP API address (the /api/v1 endpoints are under it)'),
    query: nonEmptyString('PromQL for the candidate; {{candidate}}, {{stable}}, {{service}} and {{interval}} are replaced'),
    successCondition: conditionSchema.optional().describe('Every value the query returns must satisfy this, e.g. "< 0.05"'),
    stableQuery: nonEmptyString('The same PromQL for stable, to compare the two (maxIncrease, maxRatio, mannWhitney)').optional(),
    maxIncrease: z.number({ error: 'must be a number' }).optional().describe('Highest allowed candidate value minus stable value'),
    maxRatio: numberBetween(0, 1_000_000, 'Highest allowed candidate value divided by stable value').optional(),
    range: duration('Run a range query over this look-back (e.g. "5m") instead of an instant query: every point must meet the condition, and the points are the samples of the Mann-Whitney test').optional(),
    step: duration('Resolution of a range query (default: range / 30, at least 1s)').optional(),
    trafficQuery: nonEmptyString('PromQL giving the candidate\'s request count in the window (e.g. sum(increase(http_requests_total{revision="{{candidate}}"}[{{interval}}]))); below minRequests the measurement is inconclusive').optional(),
    minRequests: intBetween(0, 1_000_000_000, 'Requests trafficQuery must report for a verdict (default 20 when trafficQuery is set)').optional(),
    mannWhitney: mannWhitneySchema.optional(),
    headers: z.record(z.string(), z.string()).optional().describe('HTTP headers sent with every query, e.g. { Authorization: `Bearer ${process.env.PROM_TOKEN}` }'),
  })
  .superRefine(requireOneRule(PROMETHEUS_RULES))
  .superRefine((v, ctx) => {
    for (const k of ['maxIncrease', 'maxRatio', 'mannWhitney'] as const) {
      if (v[k] !== undefined && v.stableQuery === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'compares with stable: set stableQuery too' });
    }
    if (v.mannWhitney !== undefined && v.range === undefined) ctx.addIssue({ code: 'custom', path: ['mannWhitney'], message: 'needs samples: set range (e.g. "5m") so the queries return a series of points' });
  })
  .meta({
    description: 'A PromQL query against a Prometheus server, optionally compared with the same query for stable',
    ...oneRuleOf(PROMETHEUS_RULES),
    dependencies: { maxIncrease: ['stableQuery'], maxRatio: ['stableQuery'], mannWhitney: ['stableQuery', 'range'] },
  });
export type PrometheusCheckConfig = z.output<typeof prometheusCheckSchema>;

const CLOUDWATCH_RULES = TRAFFIC_RULES.filter((k) => k !== 'mannWhitney');

/** CloudWatch ALB metrics are per minute: measuring more often would judge the same minute again. */
export const CLOUDWATCH_DEFAULT_INTERVAL_MS = 60_000;
/** An alarm changes state at most once per evaluation period (a minute or more): twice a minute hears it soon enough. */
export const CLOUDWATCH_ALARM_DEFAULT_INTERVAL_MS = 30_000;

export const cloudwatchCheckSchema = z
  .strictObject({
    type: z.literal('cloudwatch'),
    ...thresholdFields,
    ...trafficRuleFields,
    region: nonEmptyString('AWS region (default: the provider\'s, else AWS_REGION)').optional(),
    loadBalancer: nonEmptyString('The ALB: "app/<name>/<id>" or its ARN (default: from the revisions\' provider data)').optional(),
    candidateTargetGroup: nonEmptyString('The candidate\'s target group: "targetgroup/<name>/<id>" or its ARN (default: from the revision\'s provider data)').optional(),
    stableTargetGroup: nonEmptyString('Stable\'s target group, for comparisons (default: from the revision\'s provider data)').optional(),
    window: duration('Look-back in whole minutes, ending where `settle` says (default: the interval rounded up to minutes, at least 1m)').optional(),
    settle: duration('Newest complete minutes left out, because ALB metrics arrive a minute or more late and a half-published minute can show its requests before its 5xx (default "1m"; "0s" reads up to the last complete minute)').optional(),
  })
  .superRefine(requireOneRule(CLOUDWATCH_RULES))
  .superRefine((v, ctx) => {
    if (v.window !== undefined && (v.window < 60_000 || v.window % 60_000 !== 0)) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: `must be whole minutes (CloudWatch ALB metrics are per minute), e.g. "1m" or "3m", got ${formatDuration(v.window)}` });
    }
    if (v.settle !== undefined && v.settle % 60_000 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['settle'], message: `must be whole minutes (CloudWatch ALB metrics are per minute), e.g. "0s", "1m" or "2m", got ${formatDuration(v.settle)}` });
    }
  })
  .meta({
    description: 'ALB per-target-group metrics (RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime) for the candidate and stable; rates computed by zdd',
    ...oneRuleOf(CLOUDWATCH_RULES),
  });
export type CloudwatchCheckConfig = z.output<typeof cloudwatchCheckSchema>;

export const cloudwatchAlarmCheckSchema = z
  .strictObject({
    type: z.literal('cloudwatch-alarm'),
    ...thresholdFields,
    alarms: z.array(nonEmptyString()).min(1, { error: 'needs at least one alarm name' }).describe('Alarm names ({{candidate}}, {{stable}}, {{service}} are replaced): ALARM fails, INSUFFICIENT_DATA is inconclusive, OK passes'),
    region: nonEmptyString('AWS region (default AWS_REGION)').optional(),
  })
  .describe('CloudWatch alarms (metric or composite) that must not be in ALARM');
export type CloudwatchAlarmCheckConfig = z.output<typeof cloudwatchAlarmCheckSchema>;
