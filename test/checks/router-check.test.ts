import { describe, expect, it } from 'vitest';
import { judgeTraffic } from '../../src/checks/metrics/judge-traffic.js';
import { RouterCheck } from '../../src/checks/metrics/router-check.js';
import { routerCheckSchema } from '../../src/checks/metrics/schemas.js';
import type { CheckContext } from '../../src/core/checks.js';
import { FakeClock } from '../../src/core/clock.js';
import type { RevisionTrafficSample, TrafficRouter } from '../../src/core/provider.js';

function context(router: TrafficRouter, stable: { id: string } | null = { id: 'v1' }): CheckContext {
  return {
    service: 'web',
    candidate: { id: 'v2' },
    stable,
    endpoints: async () => ({}),
    router,
    clock: new FakeClock(),
    signal: new AbortController().signal,
    env: {},
    cwd: process.cwd(),
  };
}

/** A router that answers trafficSample from a table and records what it was asked. */
function sampleRouter(samples: RevisionTrafficSample[]) {
  const asked: { ids: string[]; windowMs: number }[] = [];
  const router: TrafficRouter = {
    setWeights: async () => {},
    getWeights: async () => ({}),
    trafficSample: async (ids, windowMs) => {
      asked.push({ ids, windowMs });
      return samples.filter((s) => ids.includes(s.revision));
    },
  };
  return { router, asked };
}

const cfg = (c: Record<string, unknown>) => routerCheckSchema.parse({ type: 'router', ...c });

describe('RouterCheck', () => {
  it('fails a candidate whose error rate is over the limit, in the rollback message format', async () => {
    const { router, asked } = sampleRouter([
      { revision: 'v2', requests: 200, errors: 62 },
      { revision: 'v1', requests: 800, errors: 2 },
    ]);
    const m = await new RouterCheck('error-rate', cfg({ maxErrorRate: 5, interval: '10s' })).measure(context(router));
    expect(asked).toEqual([{ ids: ['v2', 'v1'], windowMs: 10_000 }]);
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe('candidate 5xx rate 31.0% > 5% (62 of 200 requests)');
    expect(m.observed).toMatchObject({ candidateRequests: 200, candidateErrors: 62, candidateErrorRatePct: 31, stableRequests: 800, stableErrorRatePct: 0.25 });
    expect(m.threshold).toBe('requests >= 20, 5xx rate <= 5%');
    expect(m.query).toBe('router traffic over the last 10s (candidate v2, stable v1)');
  });

  it('passes noisy but acceptable errors and says what it saw', async () => {
    const { router } = sampleRouter([
      { revision: 'v2', requests: 400, errors: 8 },
      { revision: 'v1', requests: 1600, errors: 24 },
    ]);
    const m = await new RouterCheck('error-rate', cfg({ maxErrorRate: 5, maxErrorRateIncrease: 2, window: '30s' })).measure(context(router));
    expect(m.verdict).toBe('pass');
    expect(m.message).toBe('candidate 5xx rate 2.0% (stable 1.5%) over 400 requests');
  });

  it('is inconclusive on too little traffic, never a pass', async () => {
    const { router } = sampleRouter([{ revision: 'v2', requests: 3, errors: 0 }]);
    const m = await new RouterCheck('error-rate', cfg({ maxErrorRate: 5, minRequests: 50 })).measure(context(router));
    expect(m.verdict).toBe('inconclusive');
    expect(m.message).toBe('too little traffic (3 requests, need 50) on candidate v2');
  });

  it('fails on an error-rate increase over stable in points', async () => {
    const { router } = sampleRouter([
      { revision: 'v2', requests: 100, errors: 12 },
      { revision: 'v1', requests: 100, errors: 3 },
    ]);
    const m = await new RouterCheck('vs-stable', cfg({ maxErrorRateIncrease: 5 })).measure(context(router));
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe("candidate 5xx rate 12.0% is 9 points above stable's 3.0% (max +5)");
  });

  it('is inconclusive when only stable comparisons are configured and stable has no traffic', async () => {
    const { router } = sampleRouter([
      { revision: 'v2', requests: 100, errors: 0 },
      { revision: 'v1', requests: 2, errors: 0 },
    ]);
    const m = await new RouterCheck('vs-stable', cfg({ maxErrorRateIncrease: 5 })).measure(context(router));
    expect(m.verdict).toBe('inconclusive');
    expect(m.message).toBe('too little traffic (2 requests, need 20) on stable v1 to compare');
    const first = await new RouterCheck('vs-stable', cfg({ maxErrorRateIncrease: 5 })).measure(context(router, null));
    expect(first.message).toBe('no stable revision to compare with');
  });

  it('compares latency percentiles and runs Mann-Whitney on the samples', async () => {
    const fast = Array.from({ length: 40 }, (_, i) => 20 + (i % 10));
    const slow = Array.from({ length: 40 }, (_, i) => 60 + (i % 10));
    const { router } = sampleRouter([
      { revision: 'v2', requests: 40, errors: 0, latenciesMs: slow },
      { revision: 'v1', requests: 40, errors: 0, latenciesMs: fast },
    ]);
    const ratio = await new RouterCheck('latency', cfg({ maxLatencyRatio: 2, latencyStatistic: 'p50' })).measure(context(router));
    expect(ratio.verdict).toBe('fail');
    expect(ratio.message).toBe("candidate p50 latency 65ms is 2.63x stable's 25ms (max 2x)");
    const mw = await new RouterCheck('latency', cfg({ mannWhitney: { significance: 0.01 } })).measure(context(router));
    expect(mw.verdict).toBe('fail');
    expect(mw.message).toMatch(/^candidate latency is significantly higher than stable's \(Mann-Whitney p=\S+ < 0.01; median 65ms vs 25ms\)$/);
    expect(mw.observed?.mannWhitneyP as number).toBeLessThan(1e-10);
  });

  it('passes Mann-Whitney when the distributions are the same', async () => {
    const a = Array.from({ length: 50 }, (_, i) => 20 + ((i * 7) % 13));
    const b = Array.from({ length: 50 }, (_, i) => 20 + ((i * 5) % 13));
    const { router } = sampleRouter([
      { revision: 'v2', requests: 50, errors: 0, latenciesMs: a },
      { revision: 'v1', requests: 50, errors: 0, latenciesMs: b },
    ]);
    const m = await new RouterCheck('latency', cfg({ mannWhitney: {} })).measure(context(router));
    expect(m.verdict).toBe('pass');
    expect(m.observed?.mannWhitneyP as number).toBeGreaterThan(0.5);
  });

  it('fails with a clear message on a router that keeps no counts', async () => {
    const m = await new RouterCheck('error-rate', cfg({ maxErrorRate: 5 })).measure(context({ setWeights: async () => {}, getWeights: async () => ({}) }));
    expect(m.verdict).toBe('fail');
    expect(m.message).toContain('local provider only');
  });
});

describe('router check schema', () => {
  it('needs at least one rule', () => {
    const r = routerCheckSchema.safeParse({ type: 'router', minRequests: 10 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toMatch(/needs at least one rule: maxErrorRate/);
  });

  it('checks ranges and names the given value', () => {
    const r = routerCheckSchema.safeParse({ type: 'router', maxErrorRate: 150 });
    expect(r.error?.issues[0]).toMatchObject({ path: ['maxErrorRate'], message: 'must be 0–100, got 150' });
  });
});

describe('judgeTraffic', () => {
  it('treats zero requests as inconclusive even with minRequests 0', () => {
    const m = judgeTraffic({ revision: 'v2', requests: 0, errors: 0 }, null, { minRequests: 0, maxErrorRate: 5, latencyLabel: 'p95 latency' }, 'q');
    expect(m).toMatchObject({ verdict: 'inconclusive', message: 'too little traffic (0 requests, need 1) on candidate v2' });
  });

  it('reports every failed rule in one sentence', () => {
    const m = judgeTraffic(
      { revision: 'v2', requests: 100, errors: 20, latencyMs: 900 },
      { revision: 'v1', requests: 100, errors: 1, latencyMs: 100 },
      { minRequests: 20, maxErrorRate: 5, maxLatencyMs: 500, latencyLabel: 'p95 latency' },
      'q',
    );
    expect(m.message).toBe('candidate 5xx rate 20.0% > 5% (20 of 100 requests); candidate p95 latency 900ms > 500ms');
  });
});
