import { describe, expect, it } from 'vitest';
import { runChecks, runGate, resolveThresholds, type GateOutcome, type ResolvedCheck } from '../../src/checks/gate-runner.js';
import type { Check, CheckContext, CheckResult, CheckThresholds, Measurement } from '../../src/core/checks.js';
import { FakeClock } from '../../src/core/clock.js';
import type { CheckConfig } from '../../src/config/schema.js';

type Step = Measurement | Error | 'hang';

/** A check that answers from a script, one entry per measurement, and records the signals it got. */
function scripted(name: string, steps: Step[], clock: FakeClock): Check & { calls: number[]; signals: AbortSignal[] } {
  const calls: number[] = [];
  const signals: AbortSignal[] = [];
  return {
    name,
    type: 'scripted',
    calls,
    signals,
    async measure(ctx) {
      calls.push(clock.now());
      signals.push(ctx.signal);
      const step = steps[Math.min(calls.length - 1, steps.length - 1)];
      if (step === 'hang') return new Promise<Measurement>(() => {});
      if (step instanceof Error) throw step;
      return step;
    },
  };
}

const pass = (message = 'candidate 5xx rate 0.0% <= 5%'): Measurement => ({ verdict: 'pass', message });
const failM = (message = 'candidate 5xx rate 31.0% > 5%'): Measurement => ({ verdict: 'fail', message, observed: { candidate: 0.31 }, threshold: '<= 5%' });
const thin = (): Measurement => ({ verdict: 'inconclusive', message: 'too little traffic (3 requests, need 50)' });

function thresholds(over: Partial<CheckThresholds> = {}): CheckThresholds {
  return { intervalMs: 10_000, count: 1, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0, timeoutMs: 5_000, ...over };
}

function context(clock: FakeClock, signal: AbortSignal = new AbortController().signal): CheckContext {
  return {
    service: 'web',
    candidate: { id: 'v2' },
    stable: { id: 'v1' },
    endpoints: async () => ({}),
    router: { setWeights: async () => {}, getWeights: async () => ({}) },
    clock,
    signal,
    env: {},
    cwd: process.cwd(),
  };
}

/** Starts a run and tracks when (on the fake clock) it settled. */
function start(checks: ResolvedCheck[], ctx: CheckContext, mode: 'gate' | 'analysis', durationMs?: number) {
  const results: CheckResult[] = [];
  const state: { outcome?: GateOutcome; error?: unknown; settledAt?: number } = {};
  const clock = ctx.clock as FakeClock;
  const promise = runChecks(checks, ctx, { gateName: 'analysis', mode, durationMs, onResult: (r) => results.push(r) }).then(
    (o) => {
      state.outcome = o;
      state.settledAt = clock.now();
      return o;
    },
    (e) => {
      state.error = e;
      state.settledAt = clock.now();
      throw e;
    },
  );
  promise.catch(() => {});
  return { promise, results, state };
}

describe('runChecks in a gate', () => {
  it('passes a single passing measurement and reports it with the check name, gate and time', async () => {
    const clock = new FakeClock();
    const c = scripted('smoke', [pass()], clock);
    const run = start([{ check: c, thresholds: thresholds() }], context(clock), 'gate');
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('pass');
    expect(run.results).toHaveLength(1);
    expect(run.results[0]).toMatchObject({ check: 'smoke', type: 'scripted', gate: 'analysis', verdict: 'pass', at: new Date(clock.now()).toISOString() });
  });

  it('fails on the measurement that goes past the failure limit and names the value in the reason', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [failM(), pass(), failM(), pass(), pass()], clock);
    const run = start([{ check: c, thresholds: thresholds({ count: 5, failureLimit: 1 }) }], context(clock), 'gate');
    for (let i = 0; i < 4 && !run.state.settledAt; i++) await clock.advance(10_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('fail');
    expect(outcome.reason).toBe('check "error-rate" failed: candidate 5xx rate 31.0% > 5% (2 failed measurements, limit 1)');
    expect(outcome.deciding?.verdict).toBe('fail');
    expect(c.calls).toHaveLength(3);
  });

  it('with failureLimit 0 the first failure decides, in the rollback message format', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [failM()], clock);
    const outcome = await start([{ check: c, thresholds: thresholds({ count: 3 }) }], context(clock), 'gate').promise;
    expect(outcome.reason).toBe('check "error-rate" failed: candidate 5xx rate 31.0% > 5%');
    expect(c.calls).toHaveLength(1);
  });

  it('takes `count` measurements `interval` apart before passing', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const c = scripted('smoke', [pass()], clock);
    const run = start([{ check: c, thresholds: thresholds({ count: 3 }) }], context(clock), 'gate');
    await clock.advance(10_000);
    expect(run.state.settledAt).toBeUndefined();
    await clock.advance(10_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('pass');
    expect(c.calls.map((t) => t - t0)).toEqual([0, 10_000, 20_000]);
  });

  it('counts a throw as an error, not a failure, and fails past the consecutive-error limit', async () => {
    const clock = new FakeClock();
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:4000');
    const c = scripted('smoke', [refused, refused, refused], clock);
    const run = start([{ check: c, thresholds: thresholds({ consecutiveErrorLimit: 2 }) }], context(clock), 'gate');
    await clock.advance(10_000);
    await clock.advance(10_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('fail');
    expect(outcome.reason).toBe('check "smoke" failed: could not measure 3 times in a row (limit 2): connect ECONNREFUSED 127.0.0.1:4000');
    expect(run.results.every((r) => r.error === true && r.verdict === 'inconclusive')).toBe(true);
  });

  it('retries after errors and passes once a measurement succeeds (errors do not use up the count)', async () => {
    const clock = new FakeClock();
    const c = scripted('smoke', [new Error('boom'), new Error('boom'), pass()], clock);
    const run = start([{ check: c, thresholds: thresholds({ consecutiveErrorLimit: 2 }) }], context(clock), 'gate');
    await clock.advance(10_000);
    await clock.advance(10_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('pass');
    expect(c.calls).toHaveLength(3);
  });

  it('ends inconclusive (never pass, never fail) on the first inconclusive measurement of a gate', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [thin()], clock);
    const outcome = await start([{ check: c, thresholds: resolveThresholdsFor('gate') }], context(clock), 'gate').promise;
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.reason).toBe('check "error-rate" was inconclusive: too little traffic (3 requests, need 50)');
  });

  it('a failing check decides over an inconclusive one; an inconclusive one over passes', async () => {
    const clock = new FakeClock();
    const failing = await start([{ check: scripted('thin', [thin()], clock), thresholds: resolveThresholdsFor('gate') }, { check: scripted('bad', [failM()], clock), thresholds: resolveThresholdsFor('gate') }], context(clock), 'gate').promise;
    expect(failing.verdict).toBe('fail');
    const mixed = await start([{ check: scripted('thin', [thin()], clock), thresholds: resolveThresholdsFor('gate') }, { check: scripted('ok', [pass()], clock), thresholds: resolveThresholdsFor('gate') }], context(clock), 'gate').promise;
    expect(mixed.verdict).toBe('inconclusive');
    expect(mixed.reason).toBe('check "thin" was inconclusive: too little traffic (3 requests, need 50)');
  });

  it('with a tolerated inconclusive limit, a gate of only inconclusive measurements is still inconclusive', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [thin()], clock);
    const run = start([{ check: c, thresholds: thresholds({ count: 2, inconclusiveLimit: 5 }) }], context(clock), 'gate');
    await clock.advance(10_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.reason).toBe('check "error-rate" was inconclusive: too little traffic (3 requests, need 50) (no conclusive result in 2 measurements)');
  });

  it('turns a measurement past its timeout into an error and aborts the probe', async () => {
    const clock = new FakeClock();
    const c = scripted('slow', ['hang'], clock);
    const run = start([{ check: c, thresholds: thresholds({ timeoutMs: 5_000, consecutiveErrorLimit: 0 }) }], context(clock), 'gate');
    await clock.advance(4_999);
    expect(run.state.settledAt).toBeUndefined();
    await clock.advance(1);
    const outcome = await run.promise;
    expect(outcome.reason).toBe('check "slow" failed: could not measure 1 time in a row (limit 0): timed out after 5s');
    expect(c.signals[0].aborted).toBe(true);
  });

  it('runs checks concurrently and stops the others at once when one fails', async () => {
    const clock = new FakeClock();
    const slow = scripted('slow', ['hang'], clock);
    const bad = scripted('bad', [failM()], clock);
    const run = start(
      [
        { check: slow, thresholds: thresholds({ timeoutMs: 60_000 }) },
        { check: bad, thresholds: thresholds() },
      ],
      context(clock),
      'gate',
    );
    const outcome = await run.promise;
    expect(outcome.reason).toMatch(/^check "bad" failed/);
    expect(slow.signals[0].aborted).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('rejects with the signal reason when aborted mid-measurement', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const c = scripted('slow', ['hang'], clock);
    const run = start([{ check: c, thresholds: thresholds({ timeoutMs: 60_000 }) }], context(clock, ac.signal), 'gate');
    await clock.advance(1_000);
    const reason = new Error('SIGINT');
    ac.abort(reason);
    await expect(run.promise).rejects.toBe(reason);
    expect(c.signals[0].aborted).toBe(true);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const reason = new Error('zdd abort');
    ac.abort(reason);
    const c = scripted('smoke', [pass()], clock);
    await expect(runChecks([{ check: c, thresholds: thresholds() }], context(clock, ac.signal), { gateName: 'g', mode: 'gate', onResult() {} })).rejects.toBe(reason);
    expect(c.calls).toHaveLength(0);
  });
});

describe('runChecks during a bake (analysis)', () => {
  it('measures at the end of every interval until the bake ends, then passes', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const c = scripted('error-rate', [pass()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 10_000 }) }], context(clock), 'analysis', 30_000);
    await clock.advance(29_999);
    expect(run.state.settledAt).toBeUndefined();
    await clock.advance(1);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('pass');
    expect(c.calls.map((t) => t - t0)).toEqual([10_000, 20_000, 30_000]);
    expect(run.state.settledAt! - t0).toBe(30_000);
  });

  it('ends the whole bake at the first failing window, not at the end of the bake', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const bad = scripted('error-rate', [pass(), pass(), failM()], clock);
    const other = scripted('latency', [pass()], clock);
    const run = start(
      [
        { check: bad, thresholds: resolveThresholdsFor('analysis', { interval: 10_000 }) },
        { check: other, thresholds: resolveThresholdsFor('analysis', { interval: 7_000 }) },
      ],
      context(clock),
      'analysis',
      300_000,
    );
    for (let i = 0; i < 30 && run.state.settledAt === undefined; i++) await clock.advance(1_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('fail');
    expect(outcome.reason).toBe('check "error-rate" failed: candidate 5xx rate 31.0% > 5%');
    expect(run.state.settledAt! - t0).toBe(30_000);
    expect(clock.pending).toBe(0);
  });

  it('ends a bake in which the check never got a conclusive result as inconclusive', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [thin()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 10_000 }) }], context(clock), 'analysis', 30_000);
    await clock.advance(30_000);
    const outcome = await run.promise;
    expect(outcome.verdict).toBe('inconclusive');
    expect(outcome.reason).toBe('check "error-rate" was inconclusive: too little traffic (3 requests, need 50) (no conclusive result in the whole bake)');
    expect(c.calls).toHaveLength(3);
  });

  it('tolerates inconclusive windows during a bake once a window passed', async () => {
    const clock = new FakeClock();
    const c = scripted('error-rate', [thin(), pass(), thin()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 10_000 }) }], context(clock), 'analysis', 30_000);
    await clock.advance(30_000);
    expect((await run.promise).verdict).toBe('pass');
  });

  it('stops measuring once `count` is reached', async () => {
    const clock = new FakeClock();
    const c = scripted('alarm', [pass()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 10_000, count: 2 }) }], context(clock), 'analysis', 60_000);
    await clock.advance(20_000);
    expect((await run.promise).verdict).toBe('pass');
    expect(c.calls).toHaveLength(2);
  });

  it('measures once at the end when the interval is longer than the bake', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const c = scripted('alarm', [pass()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 60_000 }) }], context(clock), 'analysis', 15_000);
    await clock.advance(15_000);
    expect((await run.promise).verdict).toBe('pass');
    expect(c.calls.map((t) => t - t0)).toEqual([15_000]);
  });

  it('rejects with the signal reason when interrupted mid-bake, without waiting for the bake', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const c = scripted('error-rate', [pass()], clock);
    const run = start([{ check: c, thresholds: resolveThresholdsFor('analysis', { interval: 10_000 }) }], context(clock, ac.signal), 'analysis', 300_000);
    await clock.advance(25_000);
    const reason = new Error('SIGTERM');
    ac.abort(reason);
    await expect(run.promise).rejects.toBe(reason);
    expect(c.calls).toHaveLength(2);
    expect(clock.pending).toBe(0);
  });
});

describe('runGate', () => {
  it('rejects with the signal reason before building anything when already aborted', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(runGate({ checks: [{ type: 'router' } as CheckConfig] }, context(clock, ac.signal), { gateName: 'g', mode: 'gate', onResult() {} })).rejects.toThrow('stop');
  });

  it('fills the threshold defaults: inconclusive tolerated during a bake only', () => {
    const gate = resolveThresholds({ type: 'router' } as CheckConfig, 'gate');
    const bake = resolveThresholds({ type: 'router' } as CheckConfig, 'analysis');
    expect(gate).toEqual({ intervalMs: 5_000, count: 1, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0, timeoutMs: 10_000 });
    expect(bake.count).toBeUndefined();
    expect(bake.inconclusiveLimit).toBe(Number.POSITIVE_INFINITY);
  });

  it("a check type's own default interval comes from its registry entry (CloudWatch's per-minute metrics); a configured one wins", () => {
    expect(resolveThresholds({ type: 'cloudwatch' } as CheckConfig, 'analysis').intervalMs).toBe(60_000);
    expect(resolveThresholds({ type: 'cloudwatch-alarm' } as CheckConfig, 'analysis').intervalMs).toBe(30_000);
    expect(resolveThresholds({ type: 'prometheus' } as CheckConfig, 'analysis').intervalMs).toBe(5_000);
    expect(resolveThresholds({ type: 'cloudwatch', interval: 120_000 } as CheckConfig, 'analysis').intervalMs).toBe(120_000);
  });
});

function resolveThresholdsFor(mode: 'gate' | 'analysis', over: { interval?: number; count?: number } = {}): CheckThresholds {
  return resolveThresholds({ type: 'router', ...over } as CheckConfig, mode);
}

describe('runChecks with slow probes', () => {
  it('skips the interval slots a slow measurement overran instead of measuring back to back', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const calls: number[] = [];
    const slow: Check = {
      name: 'slow',
      type: 'scripted',
      async measure(ctx) {
        calls.push(clock.now() - t0);
        await clock.sleep(2_500, ctx.signal);
        return pass();
      },
    };
    const run = start([{ check: slow, thresholds: resolveThresholds({ type: 'router', interval: 1_000 } as CheckConfig, 'analysis') }], context(clock), 'analysis', 10_000);
    for (let i = 0; i < 40 && run.state.settledAt === undefined; i++) await clock.advance(500);
    expect((await run.promise).verdict).toBe('pass');
    expect(calls).toEqual([1_000, 4_000, 7_000, 10_000]);
  });
});
