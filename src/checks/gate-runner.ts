import type { Check, CheckContext, CheckFactory, CheckResult, CheckThresholds, Measurement } from '../core/checks.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { formatDuration } from '../core/plan.js';
import type { CheckConfig, GateConfig } from '../config/schema.js';
import { CHECK_TYPES, type CheckType } from './registry.js';
import { DEFAULT_THRESHOLDS, type ThresholdConfig } from './threshold-schema.js';

export interface GateRunOptions {
  gateName: string;
  /** 'gate': each check takes `count` measurements (default 1), `interval` apart, then the gate decides.
   *  'analysis': each check measures every `interval` until `durationMs` has passed on ctx.clock
   *  (or its `count` is reached); a check that goes past its limits ends the whole run at once. */
  mode: 'gate' | 'analysis';
  durationMs?: number;
  /** Called with every measurement (the engine turns it into a `check` event and records it). */
  onResult(result: CheckResult): void;
}

export interface GateOutcome {
  /** 'inconclusive': no check failed but one never got a conclusive result; the gate's onInconclusive decides. */
  verdict: 'pass' | 'fail' | 'inconclusive';
  /** One sentence naming the check, the observed value and the threshold (the rollback message). */
  reason: string;
  /** The result that decided a failure or an inconclusive end. */
  deciding?: CheckResult;
}

/** A check built from config, with the thresholds it runs under. */
export interface ResolvedCheck {
  check: Check;
  thresholds: CheckThresholds;
}

/** Name used in output: the configured `name`, else `<type>#<index in the gate>`. */
export function checkName(config: CheckConfig, index: number): string {
  const c = config as ThresholdConfig & { type: string };
  return c.name ?? `${c.type}#${index}`;
}

/** The check type's own default interval, from its registry entry (CloudWatch's per-minute metrics). */
function typeDefaultIntervalMs(type: string): number | undefined {
  const entry = (CHECK_TYPES as Record<string, { defaultIntervalMs?: number }>)[type];
  return entry?.defaultIntervalMs;
}

/** The threshold model with its defaults filled in; inconclusive results are tolerated during a bake only. */
export function resolveThresholds(config: CheckConfig, mode: GateRunOptions['mode']): CheckThresholds {
  const c = config as ThresholdConfig & { type: string };
  return {
    intervalMs: c.interval ?? typeDefaultIntervalMs(c.type) ?? DEFAULT_THRESHOLDS.intervalMs,
    count: c.count ?? (mode === 'gate' ? 1 : undefined),
    failureLimit: c.failureLimit ?? DEFAULT_THRESHOLDS.failureLimit,
    consecutiveErrorLimit: c.consecutiveErrorLimit ?? DEFAULT_THRESHOLDS.consecutiveErrorLimit,
    inconclusiveLimit: c.inconclusiveLimit ?? (mode === 'gate' ? 0 : Number.POSITIVE_INFINITY),
    timeoutMs: c.timeout ?? DEFAULT_THRESHOLDS.timeoutMs,
  };
}

/** Builds every check of a gate through the registry (implementations load lazily). */
export async function buildChecks(gate: GateConfig, mode: GateRunOptions['mode'], gateName = 'gate'): Promise<ResolvedCheck[]> {
  return Promise.all(
    gate.checks.map(async (config, i) => {
      const entry = CHECK_TYPES[config.type as CheckType];
      if (!entry) throw new ConfigError([{ path: `gates.${gateName}.checks[${i}].type`, message: `unknown check type "${config.type}"` }]);
      const factory: CheckFactory<unknown> = await entry.load();
      const check = await factory.create(config, checkName(config, i));
      return { check, thresholds: resolveThresholds(config, mode) };
    }),
  );
}

/**
 * Runs a gate (or the analysis of a bake): every check concurrently, each under its own thresholds.
 * The first check past a limit fails the gate at once and stops the others. Rejects with
 * `ctx.signal.reason` when ctx.signal aborts.
 */
export async function runGate(gate: GateConfig, ctx: CheckContext, opts: GateRunOptions): Promise<GateOutcome> {
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const checks = await buildChecks(gate, opts.mode, opts.gateName);
  return runChecks(checks, ctx, opts);
}

/** The decision loop of `runGate`, for checks already built (tests pass their own). */
export async function runChecks(checks: ResolvedCheck[], ctx: CheckContext, opts: GateRunOptions): Promise<GateOutcome> {
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const stopAll = new AbortController();
  const onAbort = () => stopAll.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const started = ctx.clock.now();
  const end = opts.mode === 'analysis' && opts.durationMs !== undefined ? started + opts.durationMs : undefined;
  let decided: GateOutcome | undefined;
  try {
    const runs = checks.map(async (rc) => {
      const outcome = await runCheck(rc, { ...ctx, signal: stopAll.signal }, opts, started, end);
      if (outcome.verdict === 'fail' && !decided) {
        decided = outcome;
        stopAll.abort(new GateDecided());
      }
      return outcome;
    });
    const settled = await Promise.allSettled(runs);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (decided) return decided;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const inconclusive = settled.flatMap((s) => (s.status === 'fulfilled' && s.value.verdict === 'inconclusive' ? [s.value] : []));
    if (inconclusive.length) return { verdict: 'inconclusive', reason: inconclusive.map((o) => o.reason).join('; '), deciding: inconclusive[0].deciding };
    const names = checks.map((c) => `"${c.check.name}"`).join(', ');
    return { verdict: 'pass', reason: `gate "${opts.gateName}" passed: ${checks.length === 1 ? 'check' : `all ${checks.length} checks`} ${names} passed` };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (!stopAll.signal.aborted) stopAll.abort(new GateDecided());
  }
}

/** Abort reason used to stop the other checks once the gate has decided. */
class GateDecided extends Error {
  constructor() {
    super('gate decided');
  }
}

/** Measures one check on its schedule until it passes its count, runs out of time, or goes past a limit. */
async function runCheck(rc: ResolvedCheck, ctx: CheckContext, opts: GateRunOptions, started: number, end: number | undefined): Promise<GateOutcome> {
  const { check, thresholds: t } = rc;
  const counts = { pass: 0, fail: 0, inconclusive: 0, consecutiveErrors: 0, measured: 0 };
  let lastInconclusive: CheckResult | undefined;
  let lastError: CheckResult | undefined;
  const fail = (deciding: CheckResult, detail: string): GateOutcome => ({ verdict: 'fail', reason: `check "${check.name}" failed: ${detail}`, deciding });
  const inconclusive = (deciding: CheckResult, detail: string): GateOutcome => ({ verdict: 'inconclusive', reason: `check "${check.name}" was inconclusive: ${detail}`, deciding });
  // In a gate the first measurement is immediate; during a bake each one looks back over the interval just passed.
  let k = opts.mode === 'gate' ? 0 : 1;
  for (;;) {
    const due = end === undefined ? started + k * t.intervalMs : Math.min(started + k * t.intervalMs, end);
    const wait = due - ctx.clock.now();
    if (wait > 0) await ctx.clock.sleep(wait, ctx.signal);
    k++;
    const result = await measureOnce(check, ctx, t.timeoutMs, opts.gateName);
    opts.onResult(result);
    // A measurement slower than the interval skips the slots it overran instead of piling up.
    const lag = ctx.clock.now() - (started + k * t.intervalMs);
    if (lag > 0) k += Math.ceil(lag / t.intervalMs);

    if (result.error) {
      counts.consecutiveErrors++;
      lastError = result;
      if (counts.consecutiveErrors > t.consecutiveErrorLimit) {
        return fail(result, `could not measure ${counts.consecutiveErrors} time${counts.consecutiveErrors === 1 ? '' : 's'} in a row (limit ${t.consecutiveErrorLimit}): ${result.message}`);
      }
    } else {
      counts.consecutiveErrors = 0;
      counts.measured++;
      counts[result.verdict]++;
      if (result.verdict === 'fail' && counts.fail > t.failureLimit) {
        return fail(result, result.message + (t.failureLimit > 0 ? ` (${counts.fail} failed measurements, limit ${t.failureLimit})` : ''));
      }
      if (result.verdict === 'inconclusive') {
        lastInconclusive = result;
        if (counts.inconclusive > t.inconclusiveLimit) {
          return inconclusive(result, result.message + (t.inconclusiveLimit > 0 ? ` (${counts.inconclusive} inconclusive measurements, limit ${t.inconclusiveLimit})` : ''));
        }
      }
    }

    const countReached = t.count !== undefined && counts.measured >= t.count;
    const timeUp = end !== undefined ? ctx.clock.now() >= end : t.count === undefined;
    if (!countReached && !timeUp) continue;
    // Inconclusive never passes by itself: a check passes only on at least one passing measurement.
    if (counts.pass > 0) {
      return { verdict: 'pass', reason: `check "${check.name}" passed ${counts.pass} of ${counts.measured} measurement${counts.measured === 1 ? '' : 's'}` };
    }
    const span = opts.mode === 'analysis' && !countReached ? 'the whole bake' : `${counts.measured} measurement${counts.measured === 1 ? '' : 's'}`;
    if (lastInconclusive) return inconclusive(lastInconclusive, `${lastInconclusive.message} (no conclusive result in ${span})`);
    if (lastError) return fail(lastError, `no measurement succeeded in ${span}: ${lastError.message}`);
    // Unreachable (every run measures at least once), but a check must never end undecided.
    return { verdict: 'fail', reason: `check "${check.name}" failed: no measurement was made` };
  }
}

/**
 * One measurement, bounded by `timeoutMs` on the clock. A throw or a timeout becomes an error
 * result (consecutive-error limit), never a failure. Rejects only when ctx.signal aborts.
 */
async function measureOnce(check: Check, ctx: CheckContext, timeoutMs: number, gate: string): Promise<CheckResult> {
  const probe = new AbortController();
  const onAbort = () => probe.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const timer = new AbortController();
  const stamp = (m: Measurement): CheckResult => ({ ...m, check: check.name, type: check.type, at: new Date(ctx.clock.now()).toISOString(), gate });
  try {
    const measured = check.measure({ ...ctx, signal: probe.signal }).then(
      (m) => ({ kind: 'measured' as const, m }),
      (e: unknown) => ({ kind: 'threw' as const, e }),
    );
    const timedOut = timeoutClock(ctx.clock)
      .sleep(timeoutMs, timer.signal)
      .then(() => ({ kind: 'timeout' as const }), () => ({ kind: 'stopped' as const }));
    const aborted = new Promise<{ kind: 'aborted' }>((resolve) => {
      if (ctx.signal.aborted) resolve({ kind: 'aborted' });
      ctx.signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true, signal: timer.signal });
    });
    const first = await Promise.race([measured, timedOut, aborted]);
    switch (first.kind) {
      case 'aborted':
      case 'stopped':
        throw ctx.signal.reason;
      case 'timeout':
        probe.abort(new Error(`timed out after ${formatDuration(timeoutMs)}`));
        return stamp({ verdict: 'inconclusive', error: true, message: `timed out after ${formatDuration(timeoutMs)}` });
      case 'threw':
        if (ctx.signal.aborted) throw ctx.signal.reason;
        return stamp({ verdict: 'inconclusive', error: true, message: errorMessage(first.e) });
      case 'measured':
        return stamp(first.m);
    }
  } finally {
    timer.abort();
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * A fast-forward clock (FakeClock with auto-advance, used by the built binary under test) moves
 * time on every sleep, so a probe doing real I/O would always lose the race against its timeout:
 * measure timeouts on the real clock there. Bake schedules still follow the injected clock.
 */
function timeoutClock(clock: Clock): Clock {
  return (clock as unknown as { autoAdvance?: boolean }).autoAdvance === true ? systemClock : clock;
}
