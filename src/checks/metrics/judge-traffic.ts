import type { Measurement } from '../../core/checks.js';
import { formatDuration } from '../../core/plan.js';
import type { MannWhitneyConfig } from './schemas.js';
import { mannWhitneyU, median } from './statistics.js';

/** What one revision did in the window. */
export interface TrafficSide {
  revision: string;
  requests: number;
  /** Failed requests (5xx) among `requests`. */
  errors: number;
  /** The latency statistic over the window, ms, when known. */
  latencyMs?: number;
  /** Raw latency samples, ms, for the Mann-Whitney test. */
  latenciesMs?: number[];
}

/** The candidate-versus-stable rules, as plain data (percent, points, ms, ratios). */
export interface TrafficRules {
  minRequests: number;
  maxErrorRate?: number;
  maxErrorRateIncrease?: number;
  maxLatencyMs?: number;
  maxLatencyRatio?: number;
  mannWhitney?: MannWhitneyConfig;
  /** How latency reads in messages, e.g. "p95 latency". */
  latencyLabel: string;
}

export const DEFAULT_MIN_REQUESTS = 20;

/**
 * Judges one window of candidate (and stable) traffic. Too few candidate requests is
 * inconclusive; comparisons need `minRequests` on both sides and are skipped otherwise; a
 * measurement in which no rule could be applied is inconclusive, never a pass.
 */
export function judgeTraffic(candidate: TrafficSide, stable: TrafficSide | null, rules: TrafficRules, query: string): Measurement {
  const cRate = rate(candidate);
  const sRate = stable ? rate(stable) : null;
  const observed: Record<string, number | string | null> = {
    candidateRequests: candidate.requests,
    candidateErrors: candidate.errors,
    candidateErrorRatePct: round(cRate, 3),
    candidateLatencyMs: round(candidate.latencyMs ?? null, 2),
  };
  if (stable) {
    Object.assign(observed, {
      stableRequests: stable.requests,
      stableErrors: stable.errors,
      stableErrorRatePct: round(sRate, 3),
      stableLatencyMs: round(stable.latencyMs ?? null, 2),
    });
  }
  const threshold = describeRules(rules);
  const base = { query, observed, threshold };

  const need = Math.max(1, rules.minRequests);
  if (candidate.requests < need) {
    return { ...base, verdict: 'inconclusive', message: `too little traffic (${candidate.requests} requests, need ${need}) on candidate ${candidate.revision}` };
  }

  const failures: string[] = [];
  const skipped: string[] = [];
  let judged = 0;
  const lat = rules.latencyLabel;

  if (rules.maxErrorRate !== undefined) {
    judged++;
    if (cRate! > rules.maxErrorRate) failures.push(`candidate 5xx rate ${pct(cRate)} > ${num(rules.maxErrorRate)}% (${candidate.errors} of ${candidate.requests} requests)`);
  }
  if (rules.maxLatencyMs !== undefined) {
    if (candidate.latencyMs === undefined) skipped.push(`no candidate ${lat}`);
    else {
      judged++;
      if (candidate.latencyMs > rules.maxLatencyMs) failures.push(`candidate ${lat} ${ms(candidate.latencyMs)} > ${formatDuration(rules.maxLatencyMs)}`);
    }
  }

  const wantsStable = rules.maxErrorRateIncrease !== undefined || rules.maxLatencyRatio !== undefined || rules.mannWhitney !== undefined;
  const stableOk = !!stable && stable.requests >= need;
  if (wantsStable && !stableOk) {
    skipped.push(stable ? `too little traffic (${stable.requests} requests, need ${need}) on stable ${stable.revision} to compare` : 'no stable revision to compare with');
  }
  if (stableOk && stable) {
    if (rules.maxErrorRateIncrease !== undefined) {
      judged++;
      const diff = cRate! - sRate!;
      if (diff > rules.maxErrorRateIncrease) {
        failures.push(`candidate 5xx rate ${pct(cRate)} is ${num(diff, 1)} points above stable's ${pct(sRate)} (max +${num(rules.maxErrorRateIncrease)})`);
      }
    }
    if (rules.maxLatencyRatio !== undefined) {
      if (candidate.latencyMs === undefined || stable.latencyMs === undefined || stable.latencyMs <= 0) skipped.push(`no ${lat} on both sides to compare`);
      else {
        judged++;
        const ratio = candidate.latencyMs / stable.latencyMs;
        observed.latencyRatio = round(ratio, 3);
        if (ratio > rules.maxLatencyRatio) {
          failures.push(`candidate ${lat} ${ms(candidate.latencyMs)} is ${num(ratio, 2)}x stable's ${ms(stable.latencyMs)} (max ${num(rules.maxLatencyRatio)}x)`);
        }
      }
    }
    if (rules.mannWhitney) {
      const mw = mannWhitneyOutcome(candidate.latenciesMs ?? [], stable.latenciesMs ?? [], rules.mannWhitney);
      if (mw.skipped) skipped.push(mw.skipped);
      else {
        judged++;
        observed.mannWhitneyU = mw.u!;
        observed.mannWhitneyP = round(mw.p!, 6);
        observed.candidateMedianMs = round(mw.cMedian!, 2);
        observed.stableMedianMs = round(mw.sMedian!, 2);
        if (mw.failure) failures.push(mw.failure);
      }
    }
  }

  if (failures.length) return { ...base, verdict: 'fail', message: failures.join('; ') };
  if (judged === 0) return { ...base, verdict: 'inconclusive', message: skipped.join('; ') || 'no rule could be applied' };
  const parts = [`candidate 5xx rate ${pct(cRate)}${stable && stableOk ? ` (stable ${pct(sRate)})` : ''}`];
  if (candidate.latencyMs !== undefined) parts.push(`${lat} ${ms(candidate.latencyMs)}${stableOk && stable?.latencyMs !== undefined ? ` (stable ${ms(stable.latencyMs)})` : ''}`);
  if (observed.mannWhitneyP !== undefined) parts.push(`Mann-Whitney p=${fmtP(observed.mannWhitneyP as number)}`);
  return {
    ...base,
    verdict: 'pass',
    message: `${parts.join(', ')} over ${candidate.requests} requests${skipped.length ? ` (${skipped.join('; ')})` : ''}`,
  };
}

/** The Mann-Whitney rule applied to two latency samples. */
export function mannWhitneyOutcome(
  candidate: readonly number[],
  stable: readonly number[],
  cfg: MannWhitneyConfig,
): { skipped?: string; failure?: string; u?: number; p?: number; cMedian?: number; sMedian?: number } {
  const minSamples = cfg.minSamples ?? 20;
  const significance = cfg.significance ?? 0.01;
  const minRatio = cfg.minMedianRatio ?? 1.1;
  if (candidate.length < minSamples || stable.length < minSamples) {
    return { skipped: `too few latency samples for Mann-Whitney (candidate ${candidate.length}, stable ${stable.length}, need ${minSamples} each)` };
  }
  const r = mannWhitneyU(candidate, stable);
  const cMedian = median(candidate);
  const sMedian = median(stable);
  const slower = sMedian > 0 ? cMedian / sMedian >= minRatio : cMedian > 0;
  const out = { u: r.u1, p: r.pValue, cMedian, sMedian };
  if (r.pValue < significance && r.z > 0 && slower) {
    return {
      ...out,
      failure: `candidate latency is significantly higher than stable's (Mann-Whitney p=${fmtP(r.pValue)} < ${significance}; median ${ms(cMedian)} vs ${ms(sMedian)})`,
    };
  }
  return out;
}

function describeRules(r: TrafficRules): string {
  const parts = [`requests >= ${r.minRequests}`];
  if (r.maxErrorRate !== undefined) parts.push(`5xx rate <= ${num(r.maxErrorRate)}%`);
  if (r.maxErrorRateIncrease !== undefined) parts.push(`5xx rate <= stable + ${num(r.maxErrorRateIncrease)}pt`);
  if (r.maxLatencyMs !== undefined) parts.push(`${r.latencyLabel} <= ${formatDuration(r.maxLatencyMs)}`);
  if (r.maxLatencyRatio !== undefined) parts.push(`${r.latencyLabel} <= ${num(r.maxLatencyRatio)}x stable`);
  if (r.mannWhitney) parts.push(`latency not significantly above stable (Mann-Whitney p >= ${r.mannWhitney.significance ?? 0.01})`);
  return parts.join(', ');
}

function rate(s: TrafficSide): number | null {
  return s.requests > 0 ? (100 * s.errors) / s.requests : null;
}

function round(v: number | null, digits: number): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** `31.0%` */
function pct(v: number | null): string {
  return v === null ? 'n/a' : `${v.toFixed(1)}%`;
}

/** Drops a trailing `.0`: 5 → "5", 2.5 → "2.5". */
function num(v: number, digits = 2): string {
  return String(Number(v.toFixed(digits)));
}

function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`;
}

function fmtP(p: number): string {
  return p < 0.0001 ? p.toExponential(1) : String(Number(p.toPrecision(2)));
}
