import { execFile } from 'node:child_process';
import { chmodSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { freePort } from '../../src/providers/local/processes.js';
import { RouterServer } from '../../src/providers/local/router/router-server.js';
import type { InstanceRecord } from '../../src/providers/local/router-state.js';
import { WeightedPicker } from '../../src/providers/local/router/weighted-picker.js';
import { startLoad } from '../helpers/load-generator.js';
import { addRouterInstance, closeServers, routerRequest, startInProcessRouter } from './router-harness.js';

interface Backend {
  port: number;
  hits: number;
  server: Server;
  /** Its open connections (from the router). */
  sockets: Set<Socket>;
}

describe('weighted picker', () => {
  it('is exact over every window of sum(weights) picks and spreads picks out', () => {
    const p = new WeightedPicker();
    const picks = Array.from({ length: 300 }, () => p.pick({ s: 80, c: 20 }, () => true));
    for (let start = 0; start + 100 <= 300; start += 100) {
      expect(picks.slice(start, start + 100).filter((x) => x === 'c')).toHaveLength(20);
    }
    // never more than one candidate pick in a row at 20%
    expect(picks.join(',')).not.toContain('c,c');
  });

  it('skips revisions that are not eligible or at 0', () => {
    const p = new WeightedPicker();
    const picks = Array.from({ length: 10 }, () => p.pick({ s: 50, c: 50, z: 0 }, (id) => id !== 'c'));
    expect(new Set(picks)).toEqual(new Set(['s']));
    expect(p.pick({ s: 0 }, () => true)).toBeUndefined();
  });
});

describe('router server (in-process, real sockets)', () => {
  let dir: string;
  let router: RouterServer;
  let admin: AdminClient;
  let port: number;
  const backends: Backend[] = [];
  let seq = 0;

  async function backend(name: string, handler?: (req: IncomingMessage, res: ServerResponse, b: Backend) => void): Promise<Backend> {
    const b: Backend = { port: 0, hits: 0, server: undefined as unknown as Server, sockets: new Set() };
    b.server = createServer((req, res) => {
      b.hits++;
      if (handler) return handler(req, res, b);
      res.setHeader('x-revision', name);
      res.end(name);
    });
    b.server.on('connection', (sock: Socket) => {
      b.sockets.add(sock);
      sock.once('close', () => b.sockets.delete(sock));
    });
    await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
    b.port = (b.server.address() as AddressInfo).port;
    backends.push(b);
    return b;
  }

  async function addInstance(revision: string, port: number, status: InstanceRecord['status'] = 'ready'): Promise<string> {
    const id = `${revision}#${++seq}`;
    await addRouterInstance(admin, id, revision, port, status);
    return id;
  }

  const get = (path = '/', headers: Record<string, string> = {}, method = 'GET', body?: string) => routerRequest(port, path, { headers, method, body });

  beforeEach(async () => {
    ({ dir, port, router, admin } = await startInProcessRouter('zdd-router-'));
  });

  afterEach(async () => {
    await router.stop(500);
    await closeServers(backends.splice(0).map((b) => b.server));
    rmSync(dir, { recursive: true, force: true });
  });

  it('splits exactly by weight across revisions, round robin across instances', async () => {
    const s1 = await backend('s');
    const s2 = await backend('s');
    const c1 = await backend('c');
    await addInstance('s', s1.port);
    await addInstance('s', s2.port);
    await addInstance('c', c1.port);
    await admin.call('PUT', '/weights', { weights: { s: 80, c: 20 } });
    const r = await startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 1, maxRequests: 200 }).done;
    expect(r.byRevision).toEqual({ s: 160, c: 40 });
    expect([s1.hits, s2.hits]).toEqual([80, 80]);
  });

  it('routes the test header to the candidate before it has weight; without a route the header is ignored', async () => {
    const s = await backend('s');
    const c = await backend('c');
    await addInstance('s', s.port);
    await addInstance('c', c.port);
    await admin.call('PUT', '/weights', { weights: { s: 100, c: 0 } });
    expect((await get('/', { 'X-Canary': 'always' })).revision).toBe('s');
    await admin.call('PUT', '/test-route', { revision: 'c' });
    expect((await get('/', { 'x-canary': 'always' })).body).toBe('c');
    expect((await get('/', { 'x-canary': 'nope' })).body).toBe('s');
    expect((await get('/')).body).toBe('s');
  });

  it('refuses weights for a revision with no healthy instance, or that do not add up to 100', async () => {
    const s = await backend('s');
    await addInstance('s', s.port);
    await addInstance('c', s.port, 'starting');
    await expect(admin.call('PUT', '/weights', { weights: { s: 50, c: 50 } })).rejects.toThrow(/"c" has no healthy instance/);
    await expect(admin.call('PUT', '/weights', { weights: { s: 90 } })).rejects.toThrow(/add up to 100, got 90/);
    const state = await admin.call('GET', '/state');
    expect(state.state.weights).toEqual({});
  });

  it('retries on another instance when a connection is refused, for GET and for POST (never connected)', async () => {
    const good = await backend('s');
    const dead = await freePort('127.0.0.1');
    await addInstance('s', dead);
    await addInstance('s', good.port);
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    for (let i = 0; i < 10; i++) {
      expect((await get('/')).status).toBe(200);
      expect((await get('/', { 'content-type': 'text/plain' }, 'POST', 'hello')).status).toBe(200);
    }
    expect(good.hits).toBe(20);
  });

  it('never sends a request twice once the backend may have seen it: a reset POST is a 502, a reset GET is retried', async () => {
    const seen = { resetPost: 0, resetGet: 0, goodPost: 0, goodGet: 0 };
    const resetter = await backend('s', (req) => {
      if (req.method === 'POST') seen.resetPost++;
      else seen.resetGet++;
      req.socket.destroy();
    });
    const good = await backend('s', (req, res) => {
      if (req.method === 'POST') seen.goodPost++;
      else seen.goodGet++;
      res.end('ok');
    });
    await addInstance('s', resetter.port);
    await addInstance('s', good.port);
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push(await get('/', { 'content-type': 'text/plain' }, 'POST', 'order'));
    const gets = [];
    for (let i = 0; i < 4; i++) gets.push(await get('/'));
    // Round robin sends every other request to the resetter. POSTs that reached it fail and are not
    // replayed; GETs that reached it are retried on the good instance.
    expect(seen.resetPost).toBeGreaterThan(0);
    expect(posts.filter((r) => r.status === 502)).toHaveLength(seen.resetPost);
    expect(seen.resetPost + seen.goodPost).toBe(4);
    expect(seen.resetGet).toBeGreaterThan(0);
    expect(gets.every((r) => r.status === 200)).toBe(true);
    expect(seen.goodGet).toBe(4);
    const sample = await admin.call('GET', '/traffic?revisions=s&windowMs=60000');
    expect(sample.samples[0].errors).toBe(seen.resetPost);
  });

  it('draining: no new requests go to a draining instance, its in-flight request finishes, then its connections close', async () => {
    let slowReceived!: () => void;
    const slowGotOne = new Promise<'slow'>((r) => (slowReceived = () => r('slow')));
    const slow = await backend('s', (_req, res) => {
      slowReceived();
      setTimeout(() => res.end('slow done'), 400);
    });
    const other = await backend('s');
    const slowId = await addInstance('s', slow.port);
    const otherId = await addInstance('s', other.port);
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    // Find the slow instance via round robin (whichever answers or arrives first), then drain it while the request is in flight.
    let inflight: Promise<{ status: number; body: string }> | undefined;
    for (let i = 0; i < 2 && !inflight; i++) {
      const p = get('/');
      if ((await Promise.race([slowGotOne, p.then(() => 'other' as const)])) === 'slow') inflight = p;
    }
    expect(inflight).toBeDefined();
    await admin.call('PUT', '/instance-status', { id: slowId, status: 'draining' });
    const st = await admin.call('GET', '/state');
    expect(st.inflight[slowId]).toBe(1);
    for (let i = 0; i < 10; i++) expect((await get('/')).status).toBe(200);
    expect(slow.hits).toBe(1);
    expect(await inflight).toMatchObject({ status: 200, body: 'slow done' });
    expect((await admin.call('GET', '/state')).inflight[slowId]).toBe(0);
    // Its last request done, the router closes its connections to it at once (idle ones would stay 4 s).
    await expect.poll(() => slow.sockets.size, { timeout: 2_000, interval: 20, message: "the draining instance's connections stayed open after its last request" }).toBe(0);
    // An instance drained with nothing in flight: its idle keep-alive connections close at once.
    expect(other.sockets.size).toBeGreaterThan(0);
    await admin.call('PUT', '/instance-status', { id: otherId, status: 'draining' });
    await expect.poll(() => other.sockets.size, { timeout: 2_000, interval: 20, message: "an idle instance's connections stayed open after it was set draining" }).toBe(0);
  });

  it('streams request and response bodies through', async () => {
    const echo = await backend('s', (req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(String(n)));
    });
    await addInstance('s', echo.port);
    await admin.call('PUT', '/weights', { weights: { s: 100 } });
    const big = 'x'.repeat(5 * 1024 * 1024);
    expect(await get('/', { 'content-type': 'text/plain' }, 'PUT', big)).toMatchObject({ status: 200, body: String(big.length) });
  });

  it('counts 5xx per revision for the router check', async () => {
    let n = 0;
    const flaky = await backend('c', (_req, res) => {
      res.statusCode = ++n % 4 === 0 ? 500 : 200;
      res.end('c');
    });
    await addInstance('c', flaky.port);
    await admin.call('PUT', '/weights', { weights: { c: 100 } });
    await startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 2, maxRequests: 100 }).done;
    const { samples } = await admin.call('GET', '/traffic?revisions=c,s&windowMs=60000');
    expect(samples[0]).toMatchObject({ revision: 'c', requests: 100, errors: 25 });
    expect(samples[0].latenciesMs).toHaveLength(100);
    expect(samples[1]).toMatchObject({ revision: 's', requests: 0, errors: 0 });
  });

  // Switching to another user needs root (CI containers run as root); elsewhere the mode check alone runs.
  it('admin socket is 0600 and another user is refused', async () => {
    const sock = join(dir, 'admin.sock');
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(await admin.ping()).toBe(true);
    if (process.getuid?.() !== 0) return;
    // Open the directory so only the socket's own mode stands between "nobody" and the router.
    chmodSync(dir, 0o755);
    const script = `require('net').connect(${JSON.stringify(sock)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`;
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(out.stdout.trim(), out.stderr).toBe('EACCES');
    expect(out.code).toBe(1);
  });
});
