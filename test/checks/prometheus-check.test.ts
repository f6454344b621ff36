import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../../src/checks/gate-runner.js';
import { PrometheusCheck } from '../../src/checks/metrics/prometheus-check.js';
import { renderTemplate as render } from '../../src/checks/metrics/render-template.js';
import { prometheusCheckSchema } from '../../src/checks/metrics/schemas.js';
import type { CheckContext } from '../../src/core/checks.js';
import { systemClock } from '../../src/core/clock.js';
import { skipWithoutPrometheus, startExporter, startPrometheus, type Exporter, type Prometheus } from '../helpers/prometheus.js';

const skip = skipWithoutPrometheus();

function context(candidate: string, stable: string | null = 'v1'): CheckContext {
  return {
    service: 'web',
    candidate: { id: candidate },
    stable: stable ? { id: stable } : null,
    endpoints: async () => ({}),
    router: { setWeights: async () => {}, getWeights: async () => ({}) },
    clock: systemClock,
    signal: AbortSignal.timeout(20_000),
    env: {},
    cwd: process.cwd(),
  };
}

const ERROR_RATE = 'sum(app_requests_total{revision="{{candidate}}",code=~"5.."}) / sum(app_requests_total{revision="{{candidate}}"})';
const STABLE_ERROR_RATE = ERROR_RATE.replaceAll('{{candidate}}', '{{stable}}');
const TRAFFIC = 'sum(app_requests_total{revision="{{candidate}}"})';

describe.skipIf(skip)('PrometheusCheck against a real Prometheus', () => {
  let exporter: Exporter;
  let prom: Prometheus;
  let proxy: Server;
  let proxyUrl: string;

  beforeAll(async () => {
    exporter = await startExporter();
    let scrape = 0;
    exporter.serve(() => {
      scrape++;
      return [
        '# TYPE app_requests_total counter',
        'app_requests_total{revision="v1",code="200"} 998',
        'app_requests_total{revision="v1",code="500"} 2',
        'app_requests_total{revision="v2",code="200"} 69',
        'app_requests_total{revision="v2",code="500"} 31',
        'app_requests_total{revision="v3",code="200"} 3',
        '# TYPE app_latency_ms gauge',
        `app_latency_ms{revision="v1"} ${20 + (scrape % 10)}`,
        `app_latency_ms{revision="v2"} ${60 + (scrape % 10)}`,
        `app_latency_ms{revision="v4"} ${21 + ((scrape * 3) % 10)}`,
        '',
      ].join('\n');
    });
    prom = await startPrometheus([exporter.target], { scrapeIntervalMs: 500 });
    // An auth proxy in front of Prometheus: only requests with the bearer token get through.
    proxy = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer s3cret') return res.writeHead(401, { 'content-type': 'application/json' }).end('{"status":"error","error":"unauthorized"}');
      const up = request(`${prom.address}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    await prom.waitFor('count(app_requests_total)', (r) => Number(r[0]?.value[1]) >= 5);
  });

  afterAll(async () => {
    proxy?.close();
    await prom?.stop();
    await exporter?.close();
  });

  const check = (c: Record<string, unknown>, name = 'error-rate') => new PrometheusCheck(name, prometheusCheckSchema.parse({ type: 'prometheus', address: prom.address, ...c }));

  it('fails a candidate whose error rate breaks the success condition, naming value and condition', async () => {
    const m = await check({ query: ERROR_RATE, successCondition: '< 0.05' }).measure(context('v2'));
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe('candidate value 0.31 is not < 0.05');
    expect(m.query).toBe('sum(app_requests_total{revision="v2",code=~"5.."}) / sum(app_requests_total{revision="v2"})');
    expect(m.observed).toMatchObject({ candidate: 0.31 });
    expect(m.threshold).toBe('value < 0.05');
  });

  it('passes a healthy candidate', async () => {
    const m = await check({ query: ERROR_RATE, successCondition: '< 0.05' }).measure(context('v1', null));
    expect(m).toMatchObject({ verdict: 'pass', message: 'candidate value 0.002 meets value < 0.05' });
  });

  it('compares with the same query for stable', async () => {
    const m = await check({ query: ERROR_RATE, stableQuery: STABLE_ERROR_RATE, maxIncrease: 0.05 }).measure(context('v2', 'v1'));
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe("candidate value 0.31 is 0.308 above stable's 0.002 (max +0.05)");
    expect(m.observed).toMatchObject({ candidate: 0.31, stable: 0.002 });
    const first = await check({ query: ERROR_RATE, stableQuery: STABLE_ERROR_RATE, maxIncrease: 0.05 }).measure(context('v2', null));
    expect(first).toMatchObject({ verdict: 'inconclusive', message: 'no stable revision to compare with' });
  });

  it('is inconclusive on too little traffic or no data, never a pass', async () => {
    const thin = await check({ query: ERROR_RATE, successCondition: '< 0.05', trafficQuery: TRAFFIC, minRequests: 20 }).measure(context('v3'));
    expect(thin).toMatchObject({ verdict: 'inconclusive', message: 'too little traffic (3 requests, need 20) on candidate v3' });
    const none = await check({ query: ERROR_RATE, successCondition: '< 0.05' }).measure(context('v9'));
    expect(none).toMatchObject({ verdict: 'inconclusive', message: 'the query returned no data' });
  });

  it('fails at once on PromQL the server rejects (retrying cannot help)', async () => {
    const m = await check({ query: 'sum(rate(app_requests_total[', successCondition: '< 1' }).measure(context('v2'));
    expect(m.verdict).toBe('fail');
    expect(m.message).toMatch(/^Prometheus rejected the query "sum\(rate\(app_requests_total\[" \(bad_data: /);
  });

  it('sends the configured headers (auth in front of Prometheus)', async () => {
    const withToken = new PrometheusCheck('auth', prometheusCheckSchema.parse({ type: 'prometheus', address: proxyUrl, query: ERROR_RATE, successCondition: '< 0.05', headers: { Authorization: 'Bearer s3cret' } }));
    expect((await withToken.measure(context('v1'))).verdict).toBe('pass');
    const without = new PrometheusCheck('auth', prometheusCheckSchema.parse({ type: 'prometheus', address: proxyUrl, query: ERROR_RATE, successCondition: '< 0.05' }));
    const m = await without.measure(context('v1'));
    expect(m).toMatchObject({ verdict: 'fail' });
    expect(m.message).toContain('refused the query (401: unauthorized)');
  });

  it('runs range queries and a Mann-Whitney test on their points', async () => {
    await prom.waitFor('count_over_time(app_latency_ms{revision="v2"}[6s])', (r) => Number(r[0]?.value[1]) >= 10);
    const cfg = { query: 'app_latency_ms{revision="{{candidate}}"}', stableQuery: 'app_latency_ms{revision="{{stable}}"}', range: '6s', step: '500ms', mannWhitney: { minSamples: 8, significance: 0.01 } };
    const slow = await check(cfg, 'latency').measure(context('v2', 'v1'));
    expect(slow.verdict).toBe('fail');
    expect(slow.message).toMatch(/^candidate is significantly higher than stable's \(Mann-Whitney p=\S+ < 0.01; median 6\dms vs 2\dms\)$/);
    expect(slow.observed?.mannWhitneyP as number).toBeLessThan(0.001);
    const same = await check(cfg, 'latency').measure(context('v4', 'v1'));
    expect(same.verdict).toBe('pass');
    const everyPoint = await check({ query: 'app_latency_ms{revision="{{candidate}}"}', range: '6s', successCondition: '< 65' }, 'latency').measure(context('v2'));
    expect(everyPoint.verdict).toBe('fail');
    expect(everyPoint.message).toMatch(/^candidate value 6[5-9] is not < 65$/);
  });

  it('decides a gate through runGate with the rollback message', async () => {
    const outcome = await runGate(
      { checks: [prometheusCheckSchema.parse({ type: 'prometheus', name: 'error-rate', address: prom.address, query: ERROR_RATE, successCondition: '<= 0.05' })] },
      context('v2'),
      { gateName: 'analysis', mode: 'gate', onResult() {} },
    );
    expect(outcome).toMatchObject({ verdict: 'fail', reason: 'check "error-rate" failed: candidate value 0.31 is not <= 0.05' });
  });
});

describe('prometheus check config', () => {
  it('renders template variables and reports a missing stable', () => {
    expect(render('x{rev="{{candidate}}",svc="{{ service }}"}[{{interval}}]', { candidate: 'v2', service: 'web', interval: '30s', stable: null })).toBe('x{rev="v2",svc="web"}[30s]');
    expect(render('x{rev="{{stable}}"}', { stable: null })).toBeNull();
  });

  it('parses success conditions and rejects nonsense with the fix', () => {
    const ok = prometheusCheckSchema.parse({ type: 'prometheus', address: 'http://p:9090', query: 'up', successCondition: '>= 0.99' });
    expect(ok.successCondition).toEqual({ op: '>=', value: 0.99, text: '>= 0.99' });
    const bad = prometheusCheckSchema.safeParse({ type: 'prometheus', address: 'http://p:9090', query: 'up', successCondition: 'below 5' });
    expect(bad.error?.issues[0].message).toBe('must be an operator (<, <=, >, >=, ==, !=) and a number, like "< 0.05", got "below 5"');
  });

  it('requires stableQuery for comparisons and range for Mann-Whitney', () => {
    const r = prometheusCheckSchema.safeParse({ type: 'prometheus', address: 'http://p:9090', query: 'up', maxRatio: 1.2, mannWhitney: {} });
    const messages = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toEqual(['maxRatio: compares with stable: set stableQuery too', 'mannWhitney: compares with stable: set stableQuery too', 'mannWhitney: needs samples: set range (e.g. "5m") so the queries return a series of points']);
  });
});
