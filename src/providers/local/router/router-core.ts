import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { RevisionTrafficSample } from '../../../core/provider.js';
import { urlHost } from '../processes.js';
import { forwardHeaders, requestHead, responseHeaders } from './proxy-headers.js';
import { ChunkedDecoder, RawExchange, RawPool, parseResponseHead } from './raw-upstream.js';
import { DEFAULT_LIMITS, PROBE_HEADER, type InstanceRecord, type RouterLimits, type RouterState } from '../router-state.js';
import { TrafficStats } from './traffic-stats.js';
import { WeightedPicker } from './weighted-picker.js';

/** A client connection, with its requests not yet answered. */
type ClientSocket = Socket & { active?: number; waiting?: (() => void)[] };

/** Pipelined requests waiting on one client connection before it is no longer read; read again below PIPELINE_RESUME. */
const PIPELINE_PAUSE = 16;
const PIPELINE_RESUME = 4;

const BUSY = 'zdd router: every client connection is busy; try again\n';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** An instance that refused a connection is skipped for this long (it is probably gone). */
const EJECT_MS = 2_000;
/** Attempts per request across instances (first try included). */
const MAX_ATTEMPTS = 3;

interface LiveInstance {
  record: InstanceRecord;
  /** undici, for requests with a body. */
  pool: Pool;
  /** Plain keep-alive sockets, for requests without a body (the hot path). */
  raw: RawPool;
  connectTimeoutMs: number;
  /** Requests in flight plus open upgraded (WebSocket) connections. */
  inflight: number;
  ejectedUntil: number;
  tunnels: Set<Socket>;
}

/** Production and test-route outcomes of one process, per revision. */
export interface LocalSample {
  production: RevisionTrafficSample[];
  testRoute: RevisionTrafficSample[];
}

/**
 * The proxying part of the local router, the same in every router process: a node:http front
 * on the shared listening socket, undici pools to the instances, the weighted pick, WebSocket
 * tunnels, and per-revision counts (test-route requests apart from production). It does no I/O
 * of its own beyond proxying: state comes in through applyState().
 */
export class RouterCore {
  readonly front: Server;
  private state!: RouterState;
  private limits: RouterLimits = DEFAULT_LIMITS;
  private readonly instances = new Map<string, LiveInstance>();
  /** Ready instances per revision, rebuilt on every state change (not per request). */
  private ready = new Map<string, LiveInstance[]>();
  private readonly picker = new WeightedPicker();
  private readonly rrIndex = new Map<string, number>();
  private testHeader = '';
  /** Sticky sessions: the cookie's name and the attributes it is set with. */
  private sticky?: { cookie: string; attributes: string };
  readonly stats = new TrafficStats();
  readonly testStats = new TrafficStats();
  private readonly sockets = new Set<Socket>();
  /** Client connections between requests (keep-alive), longest idle first: the first to close when the limit is reached. */
  private readonly idleClients = new Set<Socket>();
  private pruneTimer?: NodeJS.Timeout;

  constructor(state: RouterState) {
    // Header and request timeouts are checked every connectionsCheckingInterval (Node's default 30 s would stretch them).
    this.front = createServer({ requestTimeout: 300_000, connectionsCheckingInterval: 1_000 }, (req, res) => this.handle(req, res));
    this.front.on('connection', (s: ClientSocket) => this.admit(s));
    this.front.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.handleUpgrade(req, socket, head));
    // Without this listener Node closes a CONNECT with no answer.
    this.front.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => this.handleUpgrade(req, socket, head));
    this.front.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable || e.code === 'ECONNRESET') return socket.destroy();
      const status = e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      // end() alone would keep the fd until the peer closes (a client that never reads never does).
      endThenDestroy(socket, `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
    this.applyState(state);
    this.pruneTimer = setInterval(() => {
      this.stats.prune();
      this.testStats.prune();
    }, 60_000).unref();
  }

  /** Serve on a new listening socket, or on one handed over by another router process. */
  listen(where: { port: number; host: string } | NetServer): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.front.once('error', onError);
      this.front.once('listening', () => {
        this.front.off('error', onError);
        resolve();
      });
      if ('port' in where) this.front.listen(where.port, where.host);
      else this.front.listen(where);
    });
  }

  /** Take a new state: weights, test route, instances (added, updated, removed) and limits. */
  applyState(next: RouterState): void {
    const prevWeights = this.state ? JSON.stringify(this.state.weights) : '';
    this.state = next;
    this.limits = { ...DEFAULT_LIMITS, ...(next.limits ?? {}) };
    this.testHeader = next.testHeader.toLowerCase();
    this.sticky = next.sticky ? { cookie: next.sticky.cookie, attributes: `; Path=/; HttpOnly; SameSite=Lax${next.sticky.maxAgeS !== undefined ? `; Max-Age=${next.sticky.maxAgeS}` : ''}` } : undefined;
    this.front.headersTimeout = this.limits.clientHeadersTimeoutMs;
    this.front.keepAliveTimeout = this.limits.clientIdleTimeoutMs;
    const seen = new Set<string>();
    for (const rec of next.instances) {
      seen.add(rec.id);
      const live = this.instances.get(rec.id);
      if (!live) {
        this.addLive(rec);
        continue;
      }
      live.record = rec;
      if (live.connectTimeoutMs !== this.limits.upstreamConnectTimeoutMs && live.inflight === 0) {
        void live.pool.close().catch(() => undefined);
        live.pool = this.newPool(rec);
        live.connectTimeoutMs = this.limits.upstreamConnectTimeoutMs;
      }
      if (rec.status === 'draining' && live.inflight === 0) this.closePools(live);
    }
    for (const id of [...this.instances.keys()]) if (!seen.has(id)) this.removeInstance(id);
    this.ready = new Map();
    for (const live of this.instances.values()) {
      if (live.record.status !== 'ready') continue;
      const list = this.ready.get(live.record.revision);
      if (list) list.push(live);
      else this.ready.set(live.record.revision, [live]);
    }
    if (JSON.stringify(next.weights) !== prevWeights) this.picker.reset();
  }

  /** In-flight requests (plus open WebSocket connections) per instance. */
  inflight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, i] of this.instances) out[id] = i.inflight;
    return out;
  }

  sample(revisions: string[], windowMs: number): LocalSample {
    return { production: this.stats.sample(revisions, windowMs), testRoute: this.testStats.sample(revisions, windowMs) };
  }

  totals(): Record<string, { requests: number; errors: number }> {
    return this.stats.totals();
  }

  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.pruneTimer);
    const closed = new Promise<void>((r) => this.front.close(() => r()));
    this.front.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.totalInflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sockets) s.destroy();
    for (const i of this.instances.values()) for (const t of i.tunnels) t.destroy();
    await closed;
    for (const i of this.instances.values()) i.raw.close();
    await Promise.all([...this.instances.values()].map((i) => i.pool.destroy().catch(() => undefined)));
  }

  // ---------------------------------------------------------------- HTTP

  /**
   * A new client connection. At the limit, the connection idle the longest (between keep-alive
   * requests) is closed to make room; when every connection is busy, the new one is answered 503
   * (Node's maxConnections would drop it with no answer).
   */
  private admit(s: ClientSocket): void {
    if (this.sockets.size >= this.limits.maxConnections) {
      const idlest = this.idleClients.values().next().value as Socket | undefined;
      if (idlest) {
        this.idleClients.delete(idlest);
        idlest.destroy();
      } else {
        s.pause();
        s.on('error', () => undefined);
        endThenDestroy(s, `HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\nretry-after: 1\r\ncontent-length: ${BUSY.length}\r\n\r\n${BUSY}`);
        return;
      }
    }
    this.sockets.add(s);
    s.active = 0;
    s.once('close', () => {
      this.sockets.delete(s);
      this.idleClients.delete(s);
    });
  }

  /**
   * Requests of one client connection go upstream one at a time, as HAProxy does: pipelined
   * requests wait for the response before them (Node would hand them all over at once, each on
   * its own upstream connection), and the connection is not read while many wait. A connection
   * is idle (may be closed to make room) only when none of its requests is open.
   */
  private handle(req: IncomingMessage, res: ServerResponse): void {
    const s = req.socket as ClientSocket;
    s.active = (s.active ?? 0) + 1;
    this.idleClients.delete(s);
    res.once('close', () => {
      s.active!--;
      const next = s.destroyed ? undefined : s.waiting?.shift();
      if (next) {
        if (s.isPaused() && s.waiting!.length < PIPELINE_RESUME) s.resume();
        return next();
      }
      if (s.active === 0 && !s.destroyed && this.sockets.has(s)) this.idleClients.add(s);
    });
    if (s.active === 1) return this.serve(req, res);
    (s.waiting ??= []).push(() => this.serve(req, res));
    if (s.waiting.length >= PIPELINE_PAUSE) s.pause();
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const refused = refusal(req);
    if (refused) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end(`zdd router: ${refused}\n`);
      return;
    }
    try {
      const started = performance.now();
      const tested = this.isTestRequest(req);
      const tried = new Set<string>();
      // A test request is never pinned and gets no cookie (it names the revision it is served by).
      const pinned = tested ? (this.state.testRoute ?? undefined) : this.pinnedRevision(req);
      const target = this.pick(tested, tried, undefined, pinned);
      if (!target) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end(this.noTarget(tested));
        return;
      }
      const te = req.headers['transfer-encoding'];
      const cl = req.headers['content-length'];
      const hasBody = te !== undefined || (cl !== undefined && cl !== '0');
      if (!hasBody && IDEMPOTENT.has(req.method ?? 'GET')) {
        this.fast(req, res, requestHead(req, withHost(forwardHeaders(req, false, this.testHeader), this.state.host, target.record.port)), tested, tried, started, target, pinned);
        return;
      }
      const ex = new Exchange(this, req, res, forwardHeaders(req, false, this.testHeader), hasBody ? lazyBody(req) : null, tested, tried, started, pinned);
      ex.send(target, 1);
    } catch (e) {
      // A router bug must cost one request, never the process.
      console.error(`zdd router: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('zdd router: internal error\n');
      else res.destroy();
    }
  }

  /**
   * A request without a body over a plain keep-alive socket. Retried on another instance when
   * the backend cannot have acted on it: never connected, or the connection closed before any
   * response byte (these methods are idempotent).
   */
  private fast(req: IncomingMessage, res: ServerResponse, head: string, tested: boolean, tried: Set<string>, started: number, first: LiveInstance, pinned: string | undefined): void {
    let current: RawExchange | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      current?.abort();
    });
    const attempt = (inst: LiveInstance, n: number): void => {
      inst.inflight++;
      tried.add(inst.record.id);
      const revision = inst.record.revision;
      let released = false;
      const release = () => {
        if (released) return false;
        released = true;
        this.release(inst);
        return true;
      };
      const ex = new RawExchange(
        {
          done: (_ex, error) => {
            if (release()) this.record(req, revision, tested, performance.now() - started, error);
          },
          failed: (ex, err, neverConnected, responseStarted) => {
            if (!release()) return;
            if (clientGone) {
              if (responseStarted) this.record(req, revision, tested, performance.now() - started, true);
              return;
            }
            if (responseStarted) {
              this.record(req, revision, tested, performance.now() - started, true);
              res.destroy();
              return;
            }
            if (neverConnected) this.eject(inst);
            // A connect timeout is retried (never connected); a headers timeout is not (the instance may have acted).
            if ((neverConnected || ex.nothingReceived) && err.code !== 'UND_ERR_HEADERS_TIMEOUT' && n < MAX_ATTEMPTS) {
              const next = this.pick(tested, tried, revision);
              if (next) return attempt(next, n + 1);
            }
            this.record(req, revision, tested, performance.now() - started, true);
            const timedOut = isTimeout(err);
            res
              .writeHead(timedOut ? 504 : 502, { 'content-type': 'text/plain', 'x-zdd-revision': revision })
              .end(`zdd router: revision ${revision} did not answer${timedOut ? ' in time' : ''} (${describeError(err)})\n`);
          },
        },
        req,
        res,
        head,
        () => this.answerHeaders(revision, pinned),
      );
      current = ex;
      ex.start(inst.raw, this.limits.upstreamHeadersTimeoutMs);
    };
    attempt(first, 1);
  }

  /** @internal used by Exchange */
  dispatch(inst: LiveInstance, ex: Exchange): void {
    inst.inflight++;
    inst.pool.dispatch(
      {
        path: ex.req.url ?? '/',
        method: (ex.req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: ex.headers,
        body: ex.body,
        headersTimeout: this.limits.upstreamHeadersTimeoutMs,
        bodyTimeout: 0,
      },
      ex,
    );
  }

  /** @internal */
  release(inst: LiveInstance): void {
    inst.inflight--;
    if (inst.inflight === 0 && inst.record.status === 'draining') this.closePools(inst);
  }

  private closePools(inst: LiveInstance): void {
    inst.pool.close().catch(() => undefined);
    inst.raw.close();
  }

  /** @internal */
  record(req: IncomingMessage, revision: string, tested: boolean, latencyMs: number, error: boolean): void {
    if (tested) return this.testStats.record(revision, latencyMs, error);
    // zdd's own observed-split probe (docs/observed-split.md): routed like any client's request, never
    // counted in the production statistics checks judge. It carries the router's test-route secret.
    if (req.headers[PROBE_HEADER] === this.state.testValue) return;
    this.stats.record(revision, latencyMs, error);
  }

  /** @internal */
  eject(inst: LiveInstance): void {
    inst.ejectedUntil = Date.now() + EJECT_MS;
  }

  private noTarget(tested: boolean): string {
    return tested ? `zdd router: no healthy instance on the test route for service ${this.state.service}\n` : `zdd router: no revision of ${this.state.service} has traffic\n`;
  }

  private isTestRequest(req: IncomingMessage): boolean {
    if (!this.state.testRoute) return false;
    const v = req.headers[this.testHeader];
    return Array.isArray(v) ? v.includes(this.state.testValue) : v === this.state.testValue;
  }

  /**
   * Choose an instance: the test route's revision for test requests, otherwise a revision by
   * smooth weighted round robin; then round robin over that revision's ready instances.
   * On a retry, prefer another instance of `sameRevision`, then any other revision with weight.
   * A sticky client's `pinned` revision is kept while it has weight (and a usable instance); its
   * requests do not move the weighted pick, so new clients still follow the weights.
   * @internal
   */
  pick(tested: boolean, exclude: Set<string>, sameRevision?: string, pinned?: string): LiveInstance | undefined {
    const now = Date.now();
    const usable = (i: LiveInstance) => !exclude.has(i.record.id) && i.ejectedUntil <= now;
    if (tested) return this.roundRobin(this.state.testRoute!, usable);
    if (sameRevision) {
      const again = this.roundRobin(sameRevision, usable);
      if (again) return again;
    }
    if (pinned && (this.state.weights[pinned] ?? 0) > 0) {
      const kept = this.roundRobin(pinned, usable);
      if (kept) return kept;
    }
    const rev = this.picker.pick(this.state.weights, (id) => this.hasUsable(id, usable));
    if (rev) return this.roundRobin(rev, usable);
    // Every instance was ejected recently: try them anyway rather than refuse outright.
    const lenient = (i: LiveInstance) => !exclude.has(i.record.id);
    const fallback = this.picker.pick(this.state.weights, (id) => this.hasUsable(id, lenient));
    return fallback ? this.roundRobin(fallback, lenient) : undefined;
  }

  /** The revision a sticky client's cookie names (sticky sessions on), else undefined. */
  private pinnedRevision(req: IncomingMessage): string | undefined {
    const header = this.sticky && req.headers.cookie;
    if (!header) return undefined;
    const prefix = `${this.sticky!.cookie}=`;
    for (const part of header.split(';')) {
      const p = part.trim();
      if (!p.startsWith(prefix)) continue;
      try {
        return decodeURIComponent(p.slice(prefix.length));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** What the router adds to every answer: the revision that served it, and a sticky client's cookie when it names another (or none). @internal */
  answerHeaders(revision: string, pinned: string | undefined): string[] {
    if (!this.sticky || revision === pinned) return ['x-zdd-revision', revision];
    return ['x-zdd-revision', revision, 'set-cookie', `${this.sticky.cookie}=${encodeURIComponent(revision)}${this.sticky.attributes}`];
  }

  private hasUsable(revision: string, ok: (i: LiveInstance) => boolean): boolean {
    const list = this.ready.get(revision);
    if (!list) return false;
    for (const i of list) if (ok(i)) return true;
    return false;
  }

  private roundRobin(revision: string, ok: (i: LiveInstance) => boolean): LiveInstance | undefined {
    const list = this.ready.get(revision);
    if (!list) return undefined;
    const n = (this.rrIndex.get(revision) ?? 0) + 1;
    this.rrIndex.set(revision, n);
    for (let k = 0; k < list.length; k++) {
      const i = list[(n + k) % list.length];
      if (ok(i)) return i;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- WebSocket (Upgrade)

  private handleUpgrade(req: IncomingMessage, client: Socket, head: Buffer): void {
    client.on('error', () => undefined);
    const refused = req.method === 'CONNECT' ? 'CONNECT is not proxied' : refusal(req);
    if (refused) {
      const status = req.method === 'CONNECT' ? '405 Method Not Allowed' : '400 Bad Request';
      const text = `zdd router: ${refused}\n`;
      endThenDestroy(client, `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`);
      return;
    }
    const tested = this.isTestRequest(req);
    const tried = new Set<string>();
    const started = performance.now();
    const headers = forwardHeaders(req, true, this.testHeader);
    const attempt = (n: number): void => {
      const inst = this.pick(tested, tried);
      if (!inst) {
        client.end(`HTTP/1.1 ${tried.size ? '502 Bad Gateway' : '503 Service Unavailable'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${this.noTarget(tested)}`);
        return;
      }
      tried.add(inst.record.id);
      const revision = inst.record.revision;
      inst.inflight++;
      let done = false;
      let connected = false;
      /** The instance did not switch protocols: its answer is on its way, and the client connection closes after it. */
      let plainAnswer = false;
      const finish = () => {
        if (done) return;
        done = true;
        inst.tunnels.delete(client);
        this.release(inst);
      };
      const up = connect({ port: inst.record.port, host: this.state.host });
      up.setNoDelay(true);
      const connectTimer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), this.limits.upstreamConnectTimeoutMs);
      up.once('error', (err) => {
        clearTimeout(connectTimer);
        if (!connected && isConnectError(err)) {
          finish();
          this.eject(inst);
          if (n < MAX_ATTEMPTS && !client.destroyed) return attempt(n + 1);
        }
        finish();
        this.record(req, revision, tested, performance.now() - started, true);
        client.destroy();
      });
      up.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
        inst.tunnels.add(client);
        const end = () => {
          finish();
          if (!plainAnswer) client.destroy();
          up.destroy();
        };
        client.once('close', end);
        up.once('close', end);
        client.on('error', end);
        // Nothing more from the client reaches the instance unless it switches protocols.
        client.pause();
        up.write(requestHead(req, headers));
        this.awaitSwitch(up, client, req, revision, (status) => {
          this.record(req, revision, tested, performance.now() - started, status >= 500);
          if (status !== 101) {
            plainAnswer = true;
            return;
          }
          if (head.length) up.write(head);
          client.pipe(up);
          up.pipe(client);
          client.resume();
        });
      });
    };
    attempt(1);
  }

  /**
   * Reads the instance's answer to an Upgrade request. 101: its head goes to the client and
   * `settled(101)` opens the tunnel. Any other final answer is a plain HTTP response: forwarded
   * with `connection: close`, then both connections close (the client's next bytes never reach
   * the instance). 1xx heads other than 101 are skipped; a head that cannot be forwarded is a 502,
   * no head in time a 504.
   */
  private awaitSwitch(up: Socket, client: Socket, req: IncomingMessage, revision: string, settled: (status: number) => void): void {
    let buf = Buffer.alloc(0);
    let body: ((d: Buffer) => boolean) | undefined;
    const answer = (status: number, text: string) => {
      up.off('data', onData);
      settled(status);
      endThenDestroy(client, `HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\nx-zdd-revision: ${revision}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    const timer = setTimeout(() => answer(504, `zdd router: revision ${revision} did not answer in time\n`), this.limits.upstreamHeadersTimeoutMs);
    const onData = (d: Buffer): void => {
      if (body) {
        if (body(d)) up.destroy();
        return;
      }
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const endOfHead = buf.indexOf('\r\n\r\n');
        if (endOfHead < 0) {
          if (buf.length > 64 * 1024) answer(502, `zdd router: revision ${revision} sent a response head over 64 KB\n`);
          return;
        }
        const head = parseResponseHead(buf.toString('latin1', 0, endOfHead));
        if ('error' in head) return answer(502, `zdd router: revision ${revision} did not answer (${head.error})\n`);
        const rest = buf.subarray(endOfHead + 4);
        if (head.status === 101) {
          clearTimeout(timer);
          up.off('data', onData);
          client.write(buf.subarray(0, endOfHead + 4));
          if (rest.length) client.write(rest);
          settled(101);
          return;
        }
        if (head.status < 200) {
          buf = rest;
          continue;
        }
        clearTimeout(timer);
        settled(head.status);
        let out = `HTTP/1.1 ${head.status} ${STATUS_CODES[head.status] ?? ''}\r\n`;
        let length = -1;
        let chunked = false;
        for (const [name, value] of head.headers) {
          const lower = name.toLowerCase();
          if (lower === 'connection' || lower === 'keep-alive' || lower === 'upgrade' || lower === 'proxy-connection') continue;
          if (lower === 'content-length') length = Number(value);
          if (lower === 'transfer-encoding') chunked = value.toLowerCase().endsWith('chunked');
          out += `${name}: ${value}\r\n`;
        }
        client.write(`${out}x-zdd-revision: ${revision}\r\nconnection: close\r\n\r\n`, 'latin1');
        // The body as it came, up to its end (then both connections close).
        const noBody = req.method === 'HEAD' || head.status === 204 || head.status === 304;
        if (noBody || (!chunked && length === 0)) {
          endThenDestroy(client, '');
          return;
        }
        if (chunked) {
          const decoder = new ChunkedDecoder();
          body = (part) => {
            const r = decoder.push(part);
            client.write(part);
            if (r === null || r.done) endThenDestroy(client, '');
            return r === null || r.done;
          };
        } else if (length > 0) {
          let left = length;
          body = (part) => {
            const piece = part.subarray(0, left);
            left -= piece.length;
            client.write(piece);
            if (left === 0) endThenDestroy(client, '');
            return left === 0;
          };
        } else {
          body = (part) => {
            client.write(part);
            return false;
          };
          up.once('end', () => endThenDestroy(client, ''));
        }
        if (rest.length && body(rest)) up.destroy();
        return;
      }
    };
    up.on('data', onData);
    up.once('close', () => clearTimeout(timer));
  }

  // ---------------------------------------------------------------- instances

  private newPool(rec: InstanceRecord): Pool {
    return new Pool(`http://${urlHost(this.state.host)}:${rec.port}`, {
      pipelining: 1,
      connections: this.limits.upstreamConnectionsPerInstance,
      keepAliveTimeout: 4_000,
      connectTimeout: this.limits.upstreamConnectTimeoutMs,
      headersTimeout: this.limits.upstreamHeadersTimeoutMs,
      bodyTimeout: 0,
    });
  }

  private addLive(rec: InstanceRecord): void {
    const raw = new RawPool(
      this.state.host,
      rec.port,
      () => this.limits.upstreamConnectTimeoutMs,
      () => this.limits.upstreamConnectionsPerInstance,
    );
    this.instances.set(rec.id, { record: rec, pool: this.newPool(rec), raw, connectTimeoutMs: this.limits.upstreamConnectTimeoutMs, inflight: 0, ejectedUntil: 0, tunnels: new Set() });
  }

  private removeInstance(id: string): void {
    const live = this.instances.get(id);
    if (!live) return;
    this.instances.delete(id);
    // close() lets in-flight requests finish, then closes the idle keep-alive connections. Upgraded
    // connections are closed now: the platform removes an instance only after its drain time.
    this.closePools(live);
    for (const t of live.tunnels) t.destroy();
  }

  private totalInflight(): number {
    let n = 0;
    for (const i of this.instances.values()) n += i.inflight;
    return n;
  }
}

/**
 * One client request on its way upstream, as an undici dispatch handler (the low-level API: no
 * promise, stream or abort controller per request). Retries on another instance when the
 * backend cannot have acted on the request.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private inst!: LiveInstance;
  private attempt = 1;
  private status = 0;
  private abort?: (err?: Error) => void;
  private resume?: () => void;
  private clientGone = false;
  private settled = false;

  constructor(
    private readonly core: RouterCore,
    readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly headers: string[],
    public body: LazyBody | null,
    private readonly tested: boolean,
    private readonly tried: Set<string>,
    private readonly started: number,
    private readonly pinned: string | undefined,
  ) {
    res.once('close', () => {
      if (res.writableFinished || this.settled) return;
      this.clientGone = true;
      this.abort?.(new Error('client closed the connection'));
    });
  }

  send(inst: LiveInstance, attempt: number): void {
    this.inst = inst;
    this.attempt = attempt;
    this.settled = false;
    this.abort = undefined;
    this.tried.add(inst.record.id);
    this.core.dispatch(inst, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.clientGone) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resume = resume;
    this.res.writeHead(statusCode, responseHeaders(rawHeaders, this.core.answerHeaders(this.inst.record.revision, this.pinned)));
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.resume!);
    return ok;
  }

  onComplete(): void {
    this.finish(this.status >= 500);
    this.res.end();
  }

  onError(err: Error): void {
    const { inst, res } = this;
    if (this.clientGone) {
      // the client left: nothing to answer; a response cut short still counts
      if (this.status) this.finish(true);
      else this.release();
      return;
    }
    if (this.status) {
      // The body broke mid-way: an error even though the status looked fine.
      this.finish(true);
      res.destroy();
      return;
    }
    this.release();
    const neverConnected = isConnectError(err);
    if (neverConnected) this.core.eject(inst);
    // Retry only when the backend cannot have acted on the request: never connected, or an
    // idempotent method whose connection broke before any response byte. A streamed body
    // that was already read cannot be replayed.
    const bodyIntact = !this.body || !this.body.started;
    const method = this.req.method ?? 'GET';
    const retryable = bodyIntact && (neverConnected || (IDEMPOTENT.has(method) && isResetBeforeResponse(err)));
    if (retryable && this.attempt < MAX_ATTEMPTS && !res.headersSent) {
      const next = this.core.pick(this.tested, this.tried, inst.record.revision);
      if (next) {
        if (this.body) this.body = lazyBody(this.req);
        return this.send(next, this.attempt + 1);
      }
    }
    if (this.body?.started && !this.req.complete) this.req.destroy();
    this.core.record(this.req, inst.record.revision, this.tested, performance.now() - this.started, true);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const timedOut = isTimeout(err);
    res
      .writeHead(timedOut ? 504 : 502, { 'content-type': 'text/plain', 'x-zdd-revision': inst.record.revision })
      .end(`zdd router: revision ${inst.record.revision} did not answer${timedOut ? ' in time' : ''} (${describeError(err)})\n`);
  }

  private release(): void {
    if (this.settled) return;
    this.settled = true;
    this.core.release(this.inst);
  }

  private finish(error: boolean): void {
    if (this.settled) return;
    this.release();
    this.core.record(this.req, this.inst.record.revision, this.tested, performance.now() - this.started, error);
  }
}

type LazyBody = Readable & { started: boolean };

/**
 * The client's body as a stream undici can consume, that only starts pulling from the client when
 * undici first reads it (after connecting), and that undici may destroy without destroying the
 * client's request. So a request that never reached a backend still has its whole body for a retry.
 */
function lazyBody(req: IncomingMessage): LazyBody {
  const body = new Readable({
    read() {
      if (!body.started) {
        body.started = true;
        req.on('data', (chunk: Buffer) => {
          if (!body.push(chunk)) req.pause();
        });
        req.once('end', () => body.push(null));
        req.once('error', (e) => body.destroy(e));
      }
      req.resume();
    },
    destroy(err, cb) {
      cb(err);
    },
  }) as LazyBody;
  body.started = false;
  return body;
}

function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

function isResetBeforeResponse(err: unknown): boolean {
  // undici fails the request before the response headers with these.
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || err instanceof undiciErrors.SocketError;
}

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

/**
 * Request header lines accepted (HAProxy's default is 101). Node itself drops lines past its own
 * limit silently, and the router's X-Forwarded-* must not be among what is dropped.
 */
export const MAX_REQUEST_HEADERS = 100;

/** Why a request is refused with 400 before anything reaches an instance, or undefined. */
function refusal(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  if (raw.length > 2 * MAX_REQUEST_HEADERS) return `more than ${MAX_REQUEST_HEADERS} header lines`;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host' && ++hosts > 1) return 'more than one Host header';
  return undefined;
}

/** How long a refused client gets to read the answer before its connection is destroyed. */
const LINGER_MS = 1_000;

/** Send `answer` and close; destroyed once it is flushed, or after LINGER_MS whatever the peer does. */
function endThenDestroy(socket: Socket, answer: string): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer, () => socket.destroy());
}

/** HTTP/1.0 clients may send no Host: the instance still gets one. */
function withHost(headers: string[], host: string, port: number): string[] {
  for (let i = 0; i < headers.length; i += 2) if (headers[i].length === 4 && headers[i].toLowerCase() === 'host') return headers;
  headers.push('host', `${urlHost(host)}:${port}`);
  return headers;
}
