import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RouterCore } from '../../src/providers/local/router/router-core.js';
import type { InstanceRecord, RouterState } from '../../src/providers/local/router-state.js';

/**
 * The local router's proxy core on its own (no admin socket, no state file: it runs in Stryker's
 * worker threads, where the router process's umask cannot be set), with real upstream servers:
 * how weights split requests, and what a draining instance gets.
 */
interface Backend {
  server: Server;
  port: number;
  hits: number;
  /** Open connections from the router to this backend. */
  open: number;
  /** Connections the router ever opened to it. */
  conns: number;
}

const backends: Backend[] = [];
let core: RouterCore | undefined;
let port = 0;

async function backend(revision: string, handle?: (res: import('node:http').ServerResponse) => void): Promise<Backend> {
  const b: Backend = { server: undefined as unknown as Server, port: 0, hits: 0, open: 0, conns: 0 };
  b.server = createServer((_req, res) => {
    b.hits++;
    if (handle) return handle(res);
    res.end(revision);
  });
  b.server.on('connection', (s) => {
    b.open++;
    b.conns++;
    s.on('close', () => b.open--);
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  backends.push(b);
  return b;
}

function instance(id: string, revision: string, b: Backend, status: InstanceRecord['status'] = 'ready'): InstanceRecord {
  return { id, revision, port: b.port, pid: 0, status, logFile: '/dev/null', startedAt: new Date().toISOString() };
}

function state(weights: Record<string, number>, instances: InstanceRecord[], over: Partial<RouterState> = {}): RouterState {
  return { version: 1, service: 'web', host: '127.0.0.1', port: 0, socketPath: '', testHeader: 'x-zdd-test', testValue: 'v', testRoute: null, weights, revisions: {}, instances, updatedAt: new Date().toISOString(), ...over };
}

async function start(s: RouterState): Promise<RouterCore> {
  core = new RouterCore(s);
  await core.listen({ port: 0, host: '127.0.0.1' });
  port = ((core as unknown as { front: Server }).front.address() as AddressInfo).port;
  return core;
}

function get(headers: Record<string, string> = {}): Promise<{ status: number; body: string; setCookie?: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function bodies(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await get()).body);
  return out;
}

const count = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});

afterEach(async () => {
  await core?.close(100);
  core = undefined;
  await Promise.all(backends.splice(0).map((b) => new Promise((r) => (b.server.closeAllConnections(), b.server.close(r)))));
});

describe('the local router core: weights and draining', () => {
  it('splits exactly by weight over every run of sum(weights) requests; instances that are not ready get none', async () => {
    const s = await backend('s');
    const c = await backend('c');
    const starting = await backend('c-starting');
    await start(state({ s: 80, c: 20 }, [instance('s#1', 's', s), instance('c#1', 'c', c), instance('c#2', 'c', starting, 'starting')]));
    expect(count(await bodies(10))).toEqual({ s: 8, c: 2 });
    expect(count(await bodies(10))).toEqual({ s: 8, c: 2 });
    expect(starting.hits).toBe(0);
  });

  it('new weights take effect from the next request, split exactly from there (no leftover of the old ones)', async () => {
    const s = await backend('s');
    const c = await backend('c');
    const instances = [instance('s#1', 's', s), instance('c#1', 'c', c)];
    const router = await start(state({ s: 90, c: 10 }, instances));
    // Five picks at 90/10 all go to s, and the candidate is owed its turn: kept, it would take the
    // first request at 60/40 too. From a fresh start the larger weight goes first, then they alternate.
    expect(await bodies(5)).toEqual(['s', 's', 's', 's', 's']);
    router.applyState(state({ s: 60, c: 40 }, instances));
    expect(await bodies(5)).toEqual(['s', 'c', 's', 'c', 's']);
    router.applyState(state({ c: 100 }, instances));
    expect(count(await bodies(4))).toEqual({ c: 4 });
  });

  it('an instance that becomes ready gets its share; one removed from the state gets nothing more', async () => {
    const s1 = await backend('s1');
    const s2 = await backend('s2');
    const router = await start(state({ s: 100 }, [instance('s#1', 's', s1), instance('s#2', 's', s2, 'starting')]));
    expect(count(await bodies(4))).toEqual({ s1: 4 });
    router.applyState(state({ s: 100 }, [instance('s#1', 's', s1), instance('s#2', 's', s2)]));
    expect(count(await bodies(4))).toEqual({ s1: 2, s2: 2 });
    router.applyState(state({ s: 100 }, [instance('s#2', 's', s2)]));
    expect(count(await bodies(4))).toEqual({ s2: 4 });
  });

  it('draining: no new requests, the one in flight finishes, then its connections to the router close', async () => {
    let finish: (() => void) | undefined;
    const slow = await backend('slow', (res) => (finish = () => res.end('slow done')));
    const other = await backend('other');
    // Only the slow one is ready at first, so the first request goes to it.
    const router = await start(state({ s: 100 }, [instance('s#1', 's', slow), instance('s#2', 's', other, 'starting')]));
    const inflight = get();
    for (let i = 0; i < 400 && !finish; i++) await new Promise((r) => setTimeout(r, 5));
    router.applyState(state({ s: 100 }, [instance('s#1', 's', slow, 'draining'), instance('s#2', 's', other)]));
    expect(router.inflight()['s#1']).toBe(1);
    expect(count(await bodies(4))).toEqual({ other: 4 });
    expect(slow.open).toBeGreaterThan(0);
    finish!();
    expect(await inflight).toEqual({ status: 200, body: 'slow done' });
    expect(router.inflight()['s#1']).toBe(0);
    for (let i = 0; i < 200 && slow.open > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(slow.open).toBe(0);
  });

  it('an instance drained while idle closes its connections at once', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const router = await start(state({ s: 100 }, [instance('s#1', 's', a), instance('s#2', 's', b)]));
    await bodies(2);
    expect(a.open).toBeGreaterThan(0);
    router.applyState(state({ s: 100 }, [instance('s#1', 's', a, 'draining'), instance('s#2', 's', b)]));
    for (let i = 0; i < 200 && a.open > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(a.open).toBe(0);
    expect(count(await bodies(3))).toEqual({ b: 3 });
  });
  it('a new state that keeps the weights keeps the split\'s turn: the revision owed a request gets it', async () => {
    const s1 = await backend('s');
    const c = await backend('c');
    const spare = await backend('spare');
    const router = await start(state({ s: 90, c: 10 }, [instance('s#1', 's', s1), instance('c#1', 'c', c)]));
    expect(await bodies(5)).toEqual(['s', 's', 's', 's', 's']);
    router.applyState(state({ s: 90, c: 10 }, [instance('s#1', 's', s1), instance('c#1', 'c', c), instance('s#2', 's', spare, 'starting')]));
    expect(await bodies(1)).toEqual(['c']);
  });

  it('connections to ready instances are kept (keep-alive) across requests and state changes', async () => {
    const a = await backend('a');
    const instances = [instance('a#1', 'a', a)];
    const router = await start(state({ a: 100 }, instances));
    await bodies(3);
    const conns = a.conns;
    router.applyState(state({ a: 100 }, instances, { testRoute: 'a' }));
    await bodies(3);
    expect(a.conns).toBe(conns);
  });

  it('a weight on a revision without a ready instance goes to the others; a revision at 0% never gets a request', async () => {
    const s1 = await backend('s');
    const c = await backend('c');
    const cStarting = await backend('c-starting');
    const router = await start(state({ s: 50, c: 50 }, [instance('s#1', 's', s1), instance('c#1', 'c', cStarting, 'starting')]));
    expect(count(await bodies(4))).toEqual({ s: 4 });
    router.applyState(state({ s: 100, c: 0 }, [instance('s#1', 's', s1, 'starting'), instance('c#1', 'c', c)]));
    expect((await get()).status).toBeGreaterThanOrEqual(500);
    expect(c.hits).toBe(0);
  });

  it('the limits of the state apply: an instance slower than upstreamHeadersTimeoutMs is a 504', async () => {
    const hung = await backend('hung', () => undefined);
    await start(state({ s: 100 }, [instance('s#1', 's', hung)], { limits: { upstreamHeadersTimeoutMs: 200 } }));
    expect((await get()).status).toBe(504);
  });

  it('the test header is matched whatever its case in the config', async () => {
    const s1 = await backend('s');
    const c = await backend('c');
    await start(state({ s: 100 }, [instance('s#1', 's', s1), instance('c#1', 'c', c)], { testHeader: 'X-Zdd-Test', testRoute: 'c' }));
    expect((await get({ 'x-zdd-test': 'v' })).body).toBe('c');
  });

  it('sticky sessions: the cookie names the revision, with its attributes and Max-Age when set', async () => {
    const s1 = await backend('s');
    const router = await start(state({ s: 100 }, [instance('s#1', 's', s1)], { sticky: { cookie: 'zdd_rev', maxAgeS: 600 } }));
    expect((await get()).setCookie).toEqual(['zdd_rev=s; Path=/; HttpOnly; SameSite=Lax; Max-Age=600']);
    router.applyState(state({ s: 100 }, [instance('s#1', 's', s1)], { sticky: { cookie: 'zdd_rev' } }));
    expect((await get()).setCookie).toEqual(['zdd_rev=s; Path=/; HttpOnly; SameSite=Lax']);
  });
});
