import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrafficAnswer } from '../../src/providers/local/router/router-server.js';
import { addRouterInstance, closeServers, startBuiltRouter, type BuiltRouter } from './router-harness.js';

/**
 * Issue 22: the built router (its two real processes) under hostile input, from raw sockets, in
 * front of backends of the test's own that write exact bytes. The router process must survive
 * every backend answer; what a client can send must not reach the app in a form the router did
 * not vet.
 */

/** A backend that answers each request head it reads with `answer(head)` (bytes as latin1), and records the heads. */
interface ScriptedBackend {
  server: NetServer;
  port: number;
  heads: string[];
  connections: number;
  answer: (head: string, socket: Socket) => void;
}

async function scriptedBackend(): Promise<ScriptedBackend> {
  const b: ScriptedBackend = { server: undefined as unknown as NetServer, port: 0, heads: [], connections: 0, answer: () => undefined };
  b.server = createNetServer((s) => {
    b.connections++;
    // As Node's HTTP servers do: without it, Nagle holds each small answer for the previous one's ACK.
    s.setNoDelay(true);
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        b.heads.push(head);
        b.answer(head, s);
      }
    });
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

/** Writes `bytes` on a new connection to the router, returns everything read until the router closes it (or `waitMs`). */
function rawRequest(port: number, bytes: string, waitMs = 5_000): Promise<{ text: string; closedByRouter: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closedByRouter: false });
    }, waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closedByRouter: true });
    });
    s.write(bytes, 'latin1');
  });
}

/** Waits until `cond` holds (polled every 50 ms), or fails with `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const GET = 'GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n';

describe('local router under hostile input (built router, raw sockets)', { timeout: 60_000 }, () => {
  let router: BuiltRouter;
  let backend: ScriptedBackend;
  let pidsAtStart: { primary?: number; secondary?: number };

  const errorsOf = async (revision: string) => {
    const t = await router.admin.call<TrafficAnswer>('GET', `/traffic?revisions=${revision}&windowMs=600000`);
    return t.samples.find((s) => s.revision === revision) ?? { requests: 0, errors: 0 };
  };

  beforeAll(async () => {
    router = await startBuiltRouter('zdd-hostile-');
    backend = await scriptedBackend();
    await addRouterInstance(router.admin, 'bad#1', 'bad', backend.port);
    await router.admin.call('PUT', '/weights', { weights: { bad: 100 } });
    pidsAtStart = router.pids();
    expect(pidsAtStart.primary && pidsAtStart.secondary, 'both router processes serve').toBeTruthy();
  });

  afterAll(async () => {
    await router?.stop();
    if (backend) await closeServers([backend.server]);
  });

  /** TCP sockets both router processes hold (the listening one included). */
  const routerSockets = () => {
    let n = 0;
    for (const pid of Object.values(router.pids())) {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
        } catch {
          // closed meanwhile
        }
      }
    }
    return n;
  };

  /** Neither router process died (and was restarted by the other) since the start of the file. */
  const expectSameProcesses = () => {
    expect(router.pids(), `router processes restarted; log:\n${router.log().slice(-3000)}`).toEqual(pidsAtStart);
  };

  it('1. a backend header Node cannot write (bad name, bare LF, NUL, DEL, obs-fold) is a 502 counted against the revision; eight at once leave both processes serving', async () => {
    const bad = [
      'Bad Name: x',
      'x-value: a\nb',
      'x-value: a\0b',
      'x-value: a\x7fb',
      'x-folded: a\r\n b',
    ];
    let which = 0;
    backend.answer = (_head, s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${bad[which % bad.length]}\r\n\r\nok`, 'latin1');
    const before = (await errorsOf('bad')).errors;
    for (which = 0; which < bad.length; which++) {
      // Eight at once, so that both processes get some.
      const answers = await Promise.all(Array.from({ length: 8 }, () => rawRequest(router.port, GET)));
      for (const a of answers) expect(statusOf(a.text), `${JSON.stringify(bad[which])} → ${JSON.stringify(a.text.slice(0, 200))}`).toBe(502);
      // A request with a body takes the other path (undici): the same answer.
      const post = await rawRequest(router.port, 'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi');
      expect(statusOf(post.text), `POST, ${JSON.stringify(bad[which])} → ${JSON.stringify(post.text.slice(0, 200))}`).toBe(502);
    }
    expect((await errorsOf('bad')).errors - before).toBe(9 * bad.length);
    expectSameProcesses();
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    expect(statusOf((await rawRequest(router.port, GET)).text)).toBe(200);
  });

  it('9. a 101 to a plain GET is a 502 at once, not a wait for the headers timeout; a 103 Early Hints reaches the client with its Link, then the answer; a bad chunk size before any body byte is a 502', async () => {
    backend.answer = (_head, s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'latin1');
    // rawRequest gives up after 5 s: the router's own headers timeout is far longer.
    const switched = await rawRequest(router.port, GET);
    expect(statusOf(switched.text), JSON.stringify(switched.text.slice(0, 200))).toBe(502);
    backend.answer = (_head, s) => s.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', 'latin1');
    const hinted = await rawRequest(router.port, GET);
    expect(hinted.text).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n[\s\S]*[Ll]ink: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    // A chunk size that is no hex number before any byte of the body went out: a 502 (HAProxy: 502), not a silent close.
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n', 'latin1');
    const badChunk = await rawRequest(router.port, GET);
    expect(statusOf(badChunk.text), JSON.stringify(badChunk.text.slice(0, 200))).toBe(502);
    expectSameProcesses();
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });

  it('9. two Host headers are a 400 and CONNECT a 405 (as HAProxy answers them), and neither reaches the app', async () => {
    const seen = backend.heads.length;
    const twoHosts = await rawRequest(router.port, 'GET / HTTP/1.1\r\nHost: shop.example\r\nHost: admin.internal\r\nConnection: close\r\n\r\n');
    expect(statusOf(twoHosts.text), JSON.stringify(twoHosts.text.slice(0, 200))).toBe(400);
    const connectReq = await rawRequest(router.port, 'CONNECT admin.internal:22 HTTP/1.1\r\nHost: admin.internal:22\r\n\r\n');
    expect(statusOf(connectReq.text), JSON.stringify(connectReq.text.slice(0, 200))).toBe(405);
    expect(backend.heads.length).toBe(seen);
    expectSameProcesses();
  });

  it('2. a client that never finishes its headers and never reads loses its connection after the 408, not when it chooses to close', async () => {
    await router.admin.call('PUT', '/config', { limits: { clientHeadersTimeoutMs: 300 } });
    try {
      const baseline = routerSockets();
      const held: Socket[] = [];
      let answered = 0;
      let connected = 0;
      for (let i = 0; i < 40; i++) {
        const s = connect(router.port, '127.0.0.1', () => connected++);
        s.on('error', () => undefined);
        // Never read: the 408 stays in the socket's buffer, so the connection is never closed from this side.
        s.pause();
        s.once('readable', () => answered++);
        s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        held.push(s);
      }
      // Not "the router holds 40 at once": on a loaded machine the first 408s may come before the last connects.
      await until(() => connected === 40, 'the 40 clients connected', 10_000);
      // The 408 comes after the headers timeout (checked every second); the router's side must be gone soon after.
      await until(() => answered === 40, 'every connection got its 408', 10_000);
      await until(() => routerSockets() <= baseline, `the router closed its side (it holds ${routerSockets()} sockets, ${baseline} before)`, 4_000);
      for (const s of held) s.destroy();
    } finally {
      await router.admin.call('PUT', '/config', { limits: {} });
    }
  });

  it('3. at maxConnections, idle keep-alive connections make room for new clients; with every connection busy a new one gets 503, not a reset', async () => {
    await router.admin.call('PUT', '/config', { limits: { maxConnections: 6 } });
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const held: Socket[] = [];
    try {
      // Each process holds 6; 16 idle keep-alive connections fill both.
      for (let i = 0; i < 16; i++) {
        const s = connect(router.port, '127.0.0.1');
        s.on('error', () => undefined);
        held.push(s);
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.once('close', () => resolve());
          s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        });
      }
      for (let i = 0; i < 8; i++) expect(statusOf((await rawRequest(router.port, GET)).text), `new client ${i} with the router full of idle connections`).toBe(200);

      for (const s of held.splice(0)) s.destroy();
      // Now 16 connections whose requests the backend holds: nothing idle to close.
      const parked: Socket[] = [];
      backend.answer = (_head, s) => parked.push(s);
      // Opened one by one until both processes hold 6 (the kernel may hand more to one of them: those get 503).
      for (let i = 0; i < 40 && parked.length < 12; i++) {
        const s = connect(router.port, '127.0.0.1');
        s.on('error', () => undefined);
        held.push(s);
        const before = parked.length;
        let answered = false;
        s.once('data', () => (answered = true));
        s.once('close', () => (answered = true));
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await until(() => parked.length > before || answered, 'the request reaches the backend or is answered');
      }
      expect(parked.length, 'both processes hold 6 busy connections').toBe(12);
      const late = await rawRequest(router.port, GET);
      expect(late.text).toMatch(/^HTTP\/1\.1 503 /);
      expect(late.closedByRouter).toBe(true);
      for (const s of parked) s.destroy();
    } finally {
      for (const s of held) s.destroy();
      await router.admin.call('PUT', '/config', { limits: {} });
      backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    }
  });

  it('4. an Upgrade request the backend answers 200 is plain HTTP: the answer, then the connection closes; nothing more reaches the app. A 101 tunnels', async () => {
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    for (const protocol of ['websocket', 'h2c']) {
      backend.heads.length = 0;
      const upgrade = `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, X-Secret\r\nUpgrade: ${protocol}\r\nX-Secret: hidden\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      const smuggled = 'GET /second HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Canary: always\r\n\r\n';
      // The second request both in the same packet and after the answer.
      const s = connect(router.port, '127.0.0.1');
      s.on('error', () => undefined);
      let text = '';
      s.on('data', (d) => (text += d.toString('latin1')));
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.write(upgrade + smuggled);
      await until(() => text.includes('ok'), `the 200 arrives (${protocol}): ${JSON.stringify(text)}`);
      s.write(smuggled);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      expect(s.destroyed || s.readableEnded, `${protocol}: the router closed the connection after the 200`).toBe(true);
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text.toLowerCase()).toContain('connection: close');
      expect(backend.heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /ws HTTP/1.1']);
      // Headers named in Connection are hop-by-hop, on this path too.
      expect(backend.heads[0]).not.toMatch(/x-secret/i);
      s.destroy();
    }

    // A backend that switches: bytes flow both ways after its 101.
    backend.answer = (head, s) => {
      if (!/^upgrade:/im.test(head)) return;
      s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      s.on('data', (d) => s.write(`echo:${d.toString('latin1')}`));
    };
    const t = connect(router.port, '127.0.0.1');
    let got = '';
    t.on('data', (d) => (got += d.toString('latin1')));
    t.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await until(() => got.includes('\r\n\r\n'), 'the 101 arrives');
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    t.write('frame');
    await until(() => got.includes('echo:frame'), `the tunnel carries bytes: ${JSON.stringify(got)}`);
    t.destroy();
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });

  it("5. a request with more header lines than the limit is a 400 that reaches no app; the router's X-Forwarded-* come first", async () => {
    backend.answer = (_head, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    backend.heads.length = 0;
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `h${i}:${i % 10}\r\n`).join('');
    // 1,500 short lines fit in Node's 16 KB of headers, but are past the 1,000 or so it keeps (it drops the rest silently).
    for (const n of [150, 1_500]) {
      const r = await rawRequest(router.port, `GET / HTTP/1.1\r\nHost: x\r\n${lines(n)}X-Canary: always\r\nConnection: close\r\n\r\n`);
      expect(statusOf(r.text), `${n} header lines`).toBe(400);
    }
    for (const verb of ['GET', 'POST']) {
      const r = await rawRequest(router.port, `${verb} / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${lines(150)}\r\n`);
      expect(statusOf(r.text), `an Upgrade with 150 header lines (${verb})`).toBe(400);
    }
    expect(backend.heads).toEqual([]);

    const ok = await rawRequest(router.port, `GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\n${lines(60)}Connection: close\r\n\r\n`);
    expect(statusOf(ok.text)).toBe(200);
    const sent = backend.heads[0].split('\r\n');
    expect(sent.slice(1, 4).map((l) => l.toLowerCase())).toEqual(['x-forwarded-for: 127.0.0.1', 'x-forwarded-proto: http', 'x-forwarded-host: shop.example']);
    expect(backend.heads[0]).not.toContain('6.6.6.6');
  });

  it('6. pipelined requests go upstream one at a time per client connection; connections to an instance are capped, more requests wait for one', async () => {
    backend.answer = (_head, c) => c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const connectionsBefore = backend.connections;
    const headsBefore = backend.heads.length;
    const s = connect(router.port, '127.0.0.1');
    s.on('error', () => undefined);
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.write('GET /p HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(100));
    await until(() => (text.match(/HTTP\/1\.1 200/g) ?? []).length === 100, `100 answers in order (${(text.match(/HTTP\/1\.1 200/g) ?? []).length} so far)`, 15_000);
    s.destroy();
    expect(backend.heads.length - headsBefore).toBe(100);
    expect(backend.connections - connectionsBefore, 'upstream connections for one pipelining client').toBeLessThanOrEqual(1);

    // 30 clients at once, 3 upstream connections per instance and process: at most 6 open, every client answered.
    await router.admin.call('PUT', '/config', { limits: { upstreamConnectionsPerInstance: 3 } });
    try {
      // Idle connections from before would not count against the new limit: a fresh backend.
      const capped = await scriptedBackend();
      let capOpen = 0;
      let capMost = 0;
      capped.answer = (_head, c) => {
        capMost = Math.max(capMost, ++capOpen);
        setTimeout(() => {
          capOpen--;
          c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }, 30);
      };
      await addRouterInstance(router.admin, 'capped#1', 'capped', capped.port);
      await router.admin.call('PUT', '/weights', { weights: { capped: 100 } });
      const answers = await Promise.all(Array.from({ length: 30 }, () => rawRequest(router.port, GET)));
      expect(answers.map((a) => statusOf(a.text))).toEqual(Array(30).fill(200));
      expect(capped.connections, 'upstream connections to the instance').toBeLessThanOrEqual(6);
      expect(capMost).toBeLessThanOrEqual(6);
      await router.admin.call('PUT', '/weights', { weights: { bad: 100 } });
      await closeServers([capped.server]);
    } finally {
      await router.admin.call('PUT', '/config', { limits: {} });
    }
  });

  it('7. without a configured value the test route takes a secret drawn each time it is set; the public default opens nothing, and the header never reaches the app', async () => {
    backend.answer = (_head, c) => c.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nstable');
    const candidate = await scriptedBackend();
    candidate.answer = (_head, c) => c.write('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\ncandidate');
    try {
      await addRouterInstance(router.admin, 'cand#1', 'cand', candidate.port);
      await router.admin.call('PUT', '/weights', { weights: { bad: 100 } });
      // What the local provider sends when no value is configured.
      await router.admin.call('PUT', '/config', { testValue: null });
      await router.admin.call('PUT', '/test-route', { revision: 'cand' });
      const first = JSON.parse(readFileSync(router.statePath, 'utf8')).testValue as string;
      expect(first).toMatch(/^[0-9a-f]{32}$/);
      const ask = (value: string) => rawRequest(router.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Canary: ${value}\r\nConnection: close\r\n\r\n`);
      expect((await ask('always')).text).toMatch(/stable$/);
      expect((await ask(first)).text).toMatch(/candidate$/);
      // Set again (the next deploy): the old secret is worth nothing.
      await router.admin.call('PUT', '/test-route', { revision: 'cand' });
      const second = JSON.parse(readFileSync(router.statePath, 'utf8')).testValue as string;
      expect(second).not.toBe(first);
      expect((await ask(first)).text).toMatch(/stable$/);
      expect((await ask(second)).text).toMatch(/candidate$/);
      for (const head of [...backend.heads, ...candidate.heads]) expect(head).not.toMatch(/x-canary/i);
      // A configured value still works as configured.
      await router.admin.call('PUT', '/config', { testValue: 'always' });
      expect((await ask('always')).text).toMatch(/candidate$/);
    } finally {
      await router.admin.call('PUT', '/test-route', { revision: null });
      await closeServers([candidate.server]);
    }
  });
});
