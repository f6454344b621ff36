import type { Clock } from './clock.js';
import type { Role } from './plan.js';
import type { RevisionEndpoints, RevisionSpec, TrafficRouter } from './provider.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** What one measurement of a check observed. Readable on its own: the reporter prints `message`. */
export interface Measurement {
  verdict: Verdict;
  /** One sentence: what was seen against what was required. */
  message: string;
  /** The query or probe, e.g. a PromQL expression or `GET http://…/health`. */
  query?: string;
  /** Observed values by name (`candidate`, `stable`, `errorRate`, …). */
  observed?: Record<string, number | string | null>;
  /** The condition, as a person reads it (`candidate 5xx rate <= stable + 1pt`). */
  threshold?: string;
  /** Set on results the gate runner reports for a probe that could not measure (threw or timed out); verdict is then 'inconclusive' and the error counts toward consecutiveErrorLimit, not the inconclusive limit. */
  error?: boolean;
}

/** A measurement with its check's name and type and a timestamp: the `check` event payload. */
export interface CheckResult extends Measurement {
  check: string;
  type: string;
  at: string;
  /** Gate the check ran in. */
  gate?: string;
}

/** What a check may use to measure. */
export interface CheckContext {
  service: string;
  candidate: RevisionSpec;
  stable: RevisionSpec | null;
  /** How to reach a revision (service URL, test route, instances). */
  endpoints(role: Role): Promise<RevisionEndpoints>;
  router: TrafficRouter;
  clock: Clock;
  signal: AbortSignal;
  /** Environment for commands (ZDD_* variables included). */
  env: Record<string, string>;
  cwd: string;
}

/** One probe. Throwing means "error" (counts toward the consecutive-error limit), not "fail". */
export interface Check {
  readonly name: string;
  readonly type: string;
  measure(ctx: CheckContext): Promise<Measurement>;
}

/**
 * How often a check runs and when it decides: the same model for every check type.
 * All durations in ms.
 */
export interface CheckThresholds {
  /** Time between measurements. */
  intervalMs: number;
  /** Measurements to take; undefined = until the bake ends (analysis) or 1 (gate). */
  count?: number;
  /** More failed measurements than this fails the check (0 = first failure fails). */
  failureLimit: number;
  /** More consecutive errors (throws) than this fails the check. */
  consecutiveErrorLimit: number;
  /** More inconclusive measurements than this fails the check; inconclusive never passes. */
  inconclusiveLimit: number;
  /** Per-measurement timeout. */
  timeoutMs: number;
}

/** A check type plugin: builds a Check from its validated config. */
export interface CheckFactory<TConfig = unknown> {
  create(config: TConfig, name: string): Check | Promise<Check>;
}
