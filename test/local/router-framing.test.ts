import { rmSync } from 'node:fs';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { RouterServer } from '../../src/providers/local/router/router-server.js';
import { addRouterInstance, closeServers, routerRequest, startInProcessRouter } from './router-harness.js';

/**
 * Requests without a body take the router's hot path (plain sockets, response framing parsed by
 * the router): every way an HTTP/1.1 response can be framed must reach the client intact, and the
 * upstream connection must be reused only when the response ended cleanly. In-process, real sockets.
 */
describe('router hot path: response framing (in-process, real sockets)', () => {
  let dir: string;
  let router: RouterServer;
  let admin: AdminClient;
  let port: number;
  let app: Server;
  let raw: NetServer;
  let rawScript = '';
  let appConnections = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  const get = (path: string, method = 'GET') => routerRequest(port, path, { method, agent, encoding: 'latin1' });

  beforeAll(async () => {
    ({ dir, port, router, admin } = await startInProcessRouter('zdd-framing-'));
    app = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/chunked') {
        res.write('a');
        setTimeout(() => res.write('b'), 20);
        setTimeout(() => res.end('c'), 40);
      } else if (url.pathname === '/big') {
        const big = Buffer.alloc(2 * 1024 * 1024, 'z');
        res.setHeader('content-length', big.length);
        res.end(big);
      } else if (url.pathname === '/empty') {
        res.statusCode = 204;
        res.end();
      } else if (url.pathname === '/head') {
        res.setHeader('content-length', '100');
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(100));
      } else {
        res.end('plain');
      }
    });
    app.on('connection', () => appConnections++);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    raw = createNetServer((s) => {
      s.once('data', () => {
        s.end(rawScript);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    for (const [rev, p] of [
      ['app', (app.address() as AddressInfo).port],
      ['raw', (raw.address() as AddressInfo).port],
    ] as const) {
      await addRouterInstance(admin, `${rev}#1`, rev, p);
    }
    await admin.call('PUT', '/weights', { weights: { app: 100 } });
  });

  afterAll(async () => {
    agent.destroy();
    await router?.stop(200);
    await closeServers([app, raw]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('chunked, content-length, 204, HEAD and 2 MB bodies arrive intact over reused connections', { timeout: 30_000 }, async () => {
    const before = appConnections;
    for (let round = 0; round < 3; round++) {
      expect(await get('/chunked')).toMatchObject({ status: 200, body: 'abc' });
      expect(await get('/')).toMatchObject({ status: 200, body: 'plain', headers: { 'content-length': '5', 'x-zdd-revision': 'app' } });
      expect(await get('/empty')).toMatchObject({ status: 204, body: '' });
      expect(await get('/head', 'HEAD')).toMatchObject({ status: 200, body: '', headers: { 'content-length': '100' } });
      expect((await get('/head')).body).toHaveLength(100);
      const big = await get('/big');
      expect(big.body.length).toBe(2 * 1024 * 1024);
      expect(big.body.replaceAll('z', '')).toBe('');
    }
    // One client connection, one request at a time: the router keeps reusing one upstream connection.
    expect(appConnections - before).toBeLessThanOrEqual(2);
  });

  it('a response that ends with the connection, after 1xx heads, arrives whole; garbage is a 502', async () => {
    await admin.call('PUT', '/weights', { weights: { raw: 100 } });
    rawScript = 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nx-revision: raw\r\nconnection: close\r\n\r\nuntil the end';
    expect(await get('/')).toMatchObject({ status: 200, body: 'until the end' });
    rawScript = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\ntrailer: x\r\n\r\n';
    expect(await get('/')).toMatchObject({ status: 200, body: 'abc0123456789' });
    rawScript = 'SSH-2.0-OpenSSH\r\n\r\n';
    const bad = await get('/');
    expect(bad.status).toBe(502);
    expect(bad.body).toMatch(/revision raw did not answer/);
    await admin.call('PUT', '/weights', { weights: { app: 100 } });
  });
});
