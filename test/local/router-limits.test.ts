import { rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { RouterCheck } from '../../src/checks/metrics/router-check.js';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { resolveLocalConfig } from '../../src/providers/local/local-provider.js';
import { LocalRouter } from '../../src/providers/local/local-router.js';
import { RouterProcess } from '../../src/providers/local/router-process.js';
import { RouterServer } from '../../src/providers/local/router/router-server.js';
import type { CheckContext } from '../../src/core/checks.js';
import { addRouterInstance, closeServers, routerRequest, startInProcessRouter } from './router-harness.js';

/**
 * Timeouts, limits, forwarded headers and test-route accounting of the router, in-process with
 * real sockets: one router and two backends (stable `s`, candidate `c`) shared by the file.
 */
describe('router limits and accounting (in-process, real sockets)', () => {
  let dir: string;
  let router: RouterServer;
  let admin: AdminClient;
  let port: number;
  const servers: Server[] = [];
  let lastHeaders: IncomingHttpHeaders = {};

  async function backend(name: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    void name;
    return (server.address() as AddressInfo).port;
  }

  const get = (path: string, headers: Record<string, string> = {}) => routerRequest(port, path, { headers });

  beforeAll(async () => {
    ({ dir, port, router, admin } = await startInProcessRouter('zdd-limits-', {
      upstreamHeadersTimeoutMs: 300,
      maxConnections: 20,
      clientHeadersTimeoutMs: 500,
      clientIdleTimeoutMs: 700,
    }));
    const answer = (name: string) => (req: IncomingMessage, res: ServerResponse) => {
      lastHeaders = req.headers;
      if (req.url === '/hang') return; // never answers
      res.end(name);
    };
    let seq = 0;
    for (const [rev, p] of [
      ['s', await backend('s', answer('s'))],
      ['c', await backend('c', answer('c'))],
    ] as const) {
      await addRouterInstance(admin, `${rev}#${++seq}`, rev, p);
    }
  });

  afterAll(async () => {
    await router?.stop(200);
    await closeServers(servers);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts test-route requests apart: the router check judges production only and says how many it ignored', async () => {
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    await admin.call('PUT', '/test-route', { revision: 'c' });
    const tested = await Promise.all(Array.from({ length: 30 }, () => get('/', { 'X-Canary': 'always' })));
    expect(new Set(tested.map((t) => t.revision))).toEqual(new Set(['c']));
    await Promise.all(Array.from({ length: 25 }, () => get('/')));
    const out = await admin.call('GET', '/traffic?revisions=c,s&windowMs=1000');
    expect(out.samples.find((x: { revision: string }) => x.revision === 'c')).toMatchObject({ requests: 0 });
    expect(out.samples.find((x: { revision: string }) => x.revision === 's')).toMatchObject({ requests: 25 });
    expect(out.testRoute.find((x: { revision: string }) => x.revision === 'c')).toMatchObject({ requests: 30 });

    // Through the provider's traffic router, as the engine calls it.
    const cfg = resolveLocalConfig({ type: 'local', command: 'true' }, dir, {});
    const localRouter = new LocalRouter(new RouterProcess(cfg, 'web', dir, new EventBus()));
    const check = new RouterCheck('errors', { type: 'router', window: 1_000, minRequests: 20, maxErrorRate: 5 } as never);
    const ctx = { service: 'web', candidate: { id: 'c' }, stable: { id: 's' }, router: localRouter, clock: systemClock } as unknown as CheckContext;
    const m = await check.measure(ctx);
    // Thirty test requests do not make up the twenty production requests the candidate needs.
    expect(m.verdict).toBe('inconclusive');
    expect(m.message).toMatch(/too little traffic \(0 requests.*30 test-route requests ignored/);
    expect(m.observed?.testRouteRequestsIgnored).toBe(30);
    await admin.call('PUT', '/test-route', { revision: null });
  });

  it('an instance that does not answer in time gets 504, counted as an error of its revision', async () => {
    await admin.call('PUT', '/weights', { weights: { c: 100 } });
    const before = (await admin.call('GET', '/traffic?revisions=c&windowMs=60000')).samples[0];
    const answers = await Promise.all([...Array.from({ length: 5 }, () => get('/hang')), ...Array.from({ length: 5 }, () => get('/'))]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 504, 504, 504, 504, 504]);
    expect(answers.find((a) => a.status === 504)).toMatchObject({ revision: 'c', body: expect.stringMatching(/revision c did not answer in time.*UND_ERR_HEADERS_TIMEOUT/) });
    const after = (await admin.call('GET', '/traffic?revisions=c&windowMs=60000')).samples[0];
    expect(after.requests - before.requests).toBe(10);
    expect(after.errors - before.errors).toBe(5);
  });

  it("replaces the client's X-Forwarded-* headers instead of trusting them", async () => {
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    const r = await get('/', { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', Forwarded: 'for=6.6.6.6', Host: 'shop.example' });
    expect(r.status).toBe(200);
    expect(lastHeaders['x-forwarded-for']).toBe('127.0.0.1');
    expect(lastHeaders['x-forwarded-host']).toBe('shop.example');
    expect(lastHeaders['x-forwarded-proto']).toBe('http');
    expect(lastHeaders.forwarded).toBeUndefined();
    expect(lastHeaders.host).toBe('shop.example');
  });

  it('closes a client that does not finish its headers in time (408), and an idle keep-alive connection', async () => {
    const slow = connect(port, '127.0.0.1');
    let got = '';
    slow.on('data', (d) => (got += d));
    slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    await new Promise((r) => slow.once('close', r));
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - t0).toBeLessThan(3_000);

    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    const idle = connect(port, '127.0.0.1');
    let answer = '';
    idle.on('data', (d) => (answer += d));
    idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const t1 = Date.now();
    await new Promise((r) => idle.once('close', r));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(600);
    expect(Date.now() - t1).toBeLessThan(3_000);
  });

  it('holds at most maxConnections client connections; more are answered 503 and closed at once (none is idle to make room)', async () => {
    const sockets: Socket[] = [];
    let closed = 0;
    let busy = 0;
    for (let i = 0; i < 30; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('data', (d) => (busy += /^HTTP\/1\.1 503 /.test(d.toString()) ? 1 : 0));
      s.on('close', () => closed++);
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(closed).toBe(10);
    expect(busy).toBe(10);
    for (const s of sockets) s.destroy();
  });
});

describe('test-route header value from the environment', () => {
  it('comes from the config, ZDD_TEST_ROUTE_VALUE, or the variable named by valueFromEnv, which must be set; else none (the router draws a secret)', () => {
    expect(resolveLocalConfig({ type: 'local', command: 'x' }, '/tmp', {}).testValue).toBeUndefined();
    expect(resolveLocalConfig({ type: 'local', command: 'x', testRoute: { value: 'always' } }, '/tmp', {}).testValue).toBe('always');
    expect(resolveLocalConfig({ type: 'local', command: 'x' }, '/tmp', { ZDD_TEST_ROUTE_VALUE: 's3cret' }).testValue).toBe('s3cret');
    expect(resolveLocalConfig({ type: 'local', command: 'x', testRoute: { valueFromEnv: 'CANARY_TOKEN' } }, '/tmp', { CANARY_TOKEN: 'abc' }).testValue).toBe('abc');
    expect(() => resolveLocalConfig({ type: 'local', command: 'x', testRoute: { valueFromEnv: 'CANARY_TOKEN' } }, '/tmp', {})).toThrow(/CANARY_TOKEN is not set/);
  });
});
