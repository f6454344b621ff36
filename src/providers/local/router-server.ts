import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import type { WeightMap } from '../../core/provider.js';
import { type InstanceRecord, type InstanceStatus, type RouterState, readRouterState, writeRouterState } from './router-state.js';
import { processStartTime, startDetached, urlHost } from './processes.js';
import { TrafficStats } from './traffic-stats.js';
import { WeightedPicker } from './weighted-picker.js';

/** Hop-by-hop headers (RFC 9110 7.6.1) plus those undici sets itself; never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** An instance that refused a connection is skipped for this long (it is probably gone). */
const EJECT_MS = 2_000;
/** Attempts per request across instances (first try included). */
const MAX_ATTEMPTS = 3;

interface LiveInstance {
  record: InstanceRecord;
  pool: Pool;
  inflight: number;
  ejectedUntil: number;
}

/** What the admin channel answers to GET /state. */
export interface RouterStatus {
  pid: number;
  startedAt: string;
  state: RouterState;
  inflight: Record<string, number>;
  totals: Record<string, { requests: number; errors: number }>;
}

/** Raised by admin operations; the admin channel answers it with 409 and the message. */
class AdminRejection extends Error {}

/**
 * The local router: a reverse proxy on the service port (node:http in front, undici pools to the
 * instances) plus an admin channel on a unix socket (mode 0600, in a 0700 directory) that only the
 * local user can reach. It runs in its own process (router-main.ts); tests may run it in-process.
 */
export class RouterServer {
  private state!: RouterState;
  private readonly instances = new Map<string, LiveInstance>();
  private readonly picker = new WeightedPicker();
  private readonly rrIndex = new Map<string, number>();
  private readonly stats = new TrafficStats();
  private front?: Server;
  private admin?: Server;
  private readonly sockets = new Set<Socket>();
  private persistChain: Promise<void> = Promise.resolve();
  private pruneTimer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();
  private stopping?: Promise<void>;
  /** Resolves when the router was asked to shut down through the admin channel. */
  readonly shutdownRequested: Promise<void>;
  private requestShutdown!: () => void;

  constructor(private readonly statePath: string) {
    this.shutdownRequested = new Promise((r) => (this.requestShutdown = r));
  }

  /** Load the state file, listen on the service port and the admin socket. Throws EADDRINUSE etc. as is. */
  async start(): Promise<void> {
    const state = await readRouterState(this.statePath);
    if (!state) throw new Error(`router state file ${this.statePath} not found`);
    this.state = state;
    for (const rec of state.instances) this.addLive(rec);

    this.front = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 0 }, (req, res) => this.handle(req, res));
    this.front.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await listen(this.front, () => this.front!.listen(state.port, state.host));

    await rm(state.socketPath, { force: true });
    this.admin = createServer((req, res) => void this.handleAdmin(req, res));
    const oldMask = process.umask(0o077);
    try {
      await listen(this.admin, () => this.admin!.listen(state.socketPath));
    } catch (e) {
      this.front.close();
      throw e;
    } finally {
      process.umask(oldMask);
    }
    await chmod(state.socketPath, 0o600);

    this.state.routerPid = process.pid;
    this.state.routerStartTime = processStartTime(process.pid);
    await this.persist();
    this.pruneTimer = setInterval(() => this.stats.prune(), 60_000).unref();
  }

  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  stop(graceMs = 5_000): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.pruneTimer);
      const frontClosed = this.front ? new Promise<void>((r) => this.front!.close(() => r())) : Promise.resolve();
      this.front?.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (this.totalInflight() > 0 && Date.now() < deadline) await delay(20);
      for (const s of this.sockets) s.destroy();
      await frontClosed;
      await Promise.all([...this.instances.values()].map((i) => i.pool.destroy().catch(() => undefined)));
      if (this.admin) {
        const adminClosed = new Promise<void>((r) => this.admin!.close(() => r()));
        this.admin.closeAllConnections();
        await adminClosed;
      }
      await this.persistChain.catch(() => undefined);
      await rm(this.state.socketPath, { force: true });
    })();
    return this.stopping;
  }

  // ---------------------------------------------------------------- proxy

  private handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      const started = performance.now();
      const tested = this.isTestRequest(req);
      const tried = new Set<string>();
      const target = this.pick(tested, tried);
      if (!target) {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end(
          tested ? `zdd router: no healthy instance on the test route for service ${this.state.service}\n` : `zdd router: no revision of ${this.state.service} has traffic\n`,
        );
        return;
      }
      const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
      const request: Outgoing = { req, headers: forwardHeaders(req), body: hasBody ? lazyBody(req) : undefined };
      this.forward(request, res, target, tested, tried, started, 1);
    } catch (e) {
      // A router bug must cost one request, never the process.
      console.error(`zdd router: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('zdd router: internal error\n');
      else res.destroy();
    }
  }

  private forward(out: Outgoing, res: ServerResponse, inst: LiveInstance, tested: boolean, tried: Set<string>, started: number, attempt: number): void {
    const { req } = out;
    tried.add(inst.record.id);
    inst.inflight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inst.inflight--;
      if (inst.inflight === 0 && inst.record.status === 'draining') inst.pool.close().catch(() => undefined);
    };
    const revision = inst.record.revision;
    // undici takes an EventEmitter as an abort signal: much cheaper per request than an AbortController.
    const abort = new EventEmitter();
    let clientGone = false;
    const onClientGone = () => {
      if (res.writableFinished) return;
      clientGone = true;
      abort.emit('abort');
    };
    res.once('close', onClientGone);
    let status = 0;

    const method = req.method ?? 'GET';
    // stream() writes the upstream body straight into the client's response (with backpressure):
    // no intermediate Readable per request, unlike request().
    inst.pool
      .stream({ path: req.url ?? '/', method: method as 'GET', headers: out.headers, body: out.body, signal: abort, opaque: res }, ({ statusCode, headers, opaque }) => {
        status = statusCode;
        const h = responseHeaders(headers);
        h['x-zdd-revision'] = revision;
        const target = opaque as ServerResponse;
        target.writeHead(statusCode, h);
        return target;
      })
      .then(
        () => {
          release();
          res.off('close', onClientGone);
          this.stats.record(revision, performance.now() - started, status >= 500);
        },
        (err: unknown) => {
          release();
          res.off('close', onClientGone);
          if (clientGone) {
            // the client left: nothing to answer; a response cut short still counts
            if (status) this.stats.record(revision, performance.now() - started, true);
            return;
          }
          if (status) {
            // The body broke mid-way: an error even though the status looked fine.
            this.stats.record(revision, performance.now() - started, true);
            res.destroy();
            return;
          }
          const neverConnected = isConnectError(err);
          if (neverConnected) inst.ejectedUntil = Date.now() + EJECT_MS;
          // Retry only when the backend cannot have acted on the request: never connected, or an
          // idempotent method whose connection broke before any response byte. A streamed body
          // that was already read cannot be replayed.
          const bodyIntact = !out.body || !out.body.started;
          const retryable = bodyIntact && (neverConnected || (IDEMPOTENT.has(method) && isResetBeforeResponse(err)));
          if (retryable && attempt < MAX_ATTEMPTS && !res.headersSent) {
            const next = this.pick(tested, tried, revision);
            if (next) {
              if (out.body) out.body = lazyBody(req);
              return this.forward(out, res, next, tested, tried, started, attempt + 1);
            }
          }
          if (out.body?.started && !req.complete) req.destroy();
          this.stats.record(revision, performance.now() - started, true);
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain', 'x-zdd-revision': revision }).end(`zdd router: revision ${revision} did not answer (${describeError(err)})\n`);
          } else {
            res.destroy();
          }
        },
      );
  }

  private isTestRequest(req: IncomingMessage): boolean {
    if (!this.state.testRoute) return false;
    const v = req.headers[this.state.testHeader.toLowerCase()];
    return Array.isArray(v) ? v.includes(this.state.testValue) : v === this.state.testValue;
  }

  /**
   * Choose an instance: the test route's revision for test requests, otherwise a revision by
   * smooth weighted round robin; then round robin over that revision's ready instances.
   * On a retry, prefer another instance of `sameRevision`, then any other revision with weight.
   */
  private pick(tested: boolean, exclude: Set<string>, sameRevision?: string): LiveInstance | undefined {
    const now = Date.now();
    const usable = (i: LiveInstance) => i.record.status === 'ready' && !exclude.has(i.record.id) && i.ejectedUntil <= now;
    if (tested) return this.roundRobin(this.state.testRoute!, usable);
    if (sameRevision) {
      const again = this.roundRobin(sameRevision, usable);
      if (again) return again;
    }
    const rev = this.picker.pick(this.state.weights, (id) => this.hasInstance(id, usable));
    if (rev) return this.roundRobin(rev, usable);
    // Every instance was ejected recently: try them anyway rather than refuse outright.
    const lenient = (i: LiveInstance) => i.record.status === 'ready' && !exclude.has(i.record.id);
    const fallback = this.picker.pick(this.state.weights, (id) => this.hasInstance(id, lenient));
    return fallback ? this.roundRobin(fallback, lenient) : undefined;
  }

  private hasInstance(revision: string, ok: (i: LiveInstance) => boolean): boolean {
    for (const i of this.instances.values()) if (i.record.revision === revision && ok(i)) return true;
    return false;
  }

  private roundRobin(revision: string, ok: (i: LiveInstance) => boolean): LiveInstance | undefined {
    const candidates = [...this.instances.values()].filter((i) => i.record.revision === revision && ok(i));
    if (candidates.length === 0) return undefined;
    const n = (this.rrIndex.get(revision) ?? 0) + 1;
    this.rrIndex.set(revision, n);
    return candidates[n % candidates.length];
  }

  private totalInflight(): number {
    let n = 0;
    for (const i of this.instances.values()) n += i.inflight;
    return n;
  }

  // ---------------------------------------------------------------- admin

  private async handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://admin');
      const body = req.method === 'GET' ? undefined : await readJson(req);
      const out = await this.admin1(req.method ?? 'GET', url, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out ?? {}));
    } catch (e) {
      const status = e instanceof AdminRejection ? 409 : 500;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
    }
  }

  private async admin1(method: string, url: URL, body: any): Promise<unknown> {
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /state':
        return this.status();
      case 'GET /traffic': {
        const ids = (url.searchParams.get('revisions') ?? '').split(',').filter(Boolean);
        const windowMs = Number(url.searchParams.get('windowMs') ?? 60_000);
        return { samples: this.stats.sample(ids, windowMs) };
      }
      case 'PUT /weights':
        this.setWeights(body.weights as WeightMap);
        await this.persist();
        return { weights: this.state.weights };
      case 'PUT /test-route': {
        const rev = body.revision as string | null;
        if (rev !== null && !this.state.revisions[rev]) throw new AdminRejection(`unknown revision "${rev}"`);
        this.state.testRoute = rev;
        await this.persist();
        return { testRoute: rev };
      }
      case 'PUT /config':
        this.state.testHeader = String(body.testHeader ?? this.state.testHeader);
        this.state.testValue = String(body.testValue ?? this.state.testValue);
        await this.persist();
        return {};
      case 'PUT /revision': {
        const id = String(body.spec?.id ?? '');
        if (!id) throw new AdminRejection('revision spec needs an id');
        this.state.revisions[id] = { spec: body.spec, desired: Number(body.desired ?? 0) };
        await this.persist();
        return {};
      }
      case 'DELETE /revision': {
        const id = String(body.id);
        if ((this.state.weights[id] ?? 0) > 0) throw new AdminRejection(`revision "${id}" still has ${this.state.weights[id]}% of traffic`);
        for (const i of [...this.instances.values()]) if (i.record.revision === id) this.removeInstance(i.record.id);
        delete this.state.revisions[id];
        delete this.state.weights[id];
        if (this.state.testRoute === id) this.state.testRoute = null;
        await this.persist();
        return {};
      }
      case 'POST /instance': {
        const rec = body.instance as InstanceRecord;
        if (this.instances.has(rec.id)) throw new AdminRejection(`instance ${rec.id} already registered`);
        if (body.launch) {
          // The router starts instances itself: starting and recording happen in this long-lived
          // process, so a zdd command killed at any moment cannot leave an unrecorded process.
          const { command, cwd, env } = body.launch as { command: string | string[]; cwd: string; env: Record<string, string> };
          let proc;
          try {
            proc = await startDetached(command, { cwd, env, logFile: rec.logFile });
          } catch (e) {
            throw new AdminRejection(`could not start ${JSON.stringify(command)}: ${(e as Error).message}`);
          }
          rec.pid = proc.pid;
          rec.startTime = processStartTime(proc.pid);
          void proc.exited.then((info) => {
            if (rec.pid !== proc.pid) return;
            rec.exit = { code: info.code, signal: info.signal, ...(info.spawnError ? { spawnError: info.spawnError } : {}) };
            if (this.instances.has(rec.id)) void this.persist().catch(() => undefined);
          });
        }
        this.state.instances.push(rec);
        this.addLive(rec);
        await this.persist();
        return { instance: rec };
      }
      case 'PUT /instance-status': {
        const live = this.instances.get(String(body.id));
        if (!live) throw new AdminRejection(`unknown instance ${body.id}`);
        live.record.status = body.status as InstanceStatus;
        if (live.record.status === 'draining' && live.inflight === 0) live.pool.close().catch(() => undefined);
        await this.persist();
        return {};
      }
      case 'DELETE /instance':
        this.removeInstance(String(body.id));
        await this.persist();
        return {};
      case 'POST /shutdown':
        setImmediate(() => this.requestShutdown());
        return {};
      default:
        throw new AdminRejection(`no admin route ${route}`);
    }
  }

  private setWeights(weights: WeightMap): void {
    if (!weights || typeof weights !== 'object') throw new AdminRejection('weights must be an object of revision → percent');
    let sum = 0;
    for (const [id, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 100) throw new AdminRejection(`weight of "${id}" must be a whole number 0–100, got ${w}`);
      if (w > 0 && !this.state.revisions[id]) throw new AdminRejection(`revision "${id}" is not running here`);
      // Promise 1: no production traffic to a revision none of whose instances passed health checks.
      if (w > 0 && !this.hasInstance(id, (i) => i.record.status === 'ready')) throw new AdminRejection(`revision "${id}" has no healthy instance`);
      sum += w;
    }
    if (sum !== 100 && sum !== 0) throw new AdminRejection(`weights must add up to 100, got ${sum}`);
    this.state.weights = { ...weights };
    this.picker.reset();
  }

  private status(): RouterStatus {
    const inflight: Record<string, number> = {};
    for (const [id, i] of this.instances) inflight[id] = i.inflight;
    return { pid: process.pid, startedAt: this.startedAt, state: this.state, inflight, totals: this.stats.totals() };
  }

  private addLive(rec: InstanceRecord): void {
    const pool = new Pool(`http://${urlHost(this.state.host)}:${rec.port}`, {
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connectTimeout: 2_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.instances.set(rec.id, { record: rec, pool, inflight: 0, ejectedUntil: 0 });
  }

  private removeInstance(id: string): void {
    const live = this.instances.get(id);
    if (!live) return;
    this.instances.delete(id);
    this.state.instances = this.state.instances.filter((r) => r.id !== id);
    // close() lets in-flight requests finish, then closes the idle keep-alive connections.
    live.pool.close().catch(() => undefined);
  }

  private persist(): Promise<void> {
    const snapshot = structuredClone(this.state);
    // One failed write (disk full) must fail its own admin call, not every later one.
    const next = this.persistChain.catch(() => undefined).then(() => writeRouterState(this.statePath, snapshot));
    this.persistChain = next;
    return next;
  }
}

interface Outgoing {
  req: IncomingMessage;
  headers: Record<string, string | string[]>;
  body: LazyBody | undefined;
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

function forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionListed = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || connectionListed.has(k)) continue;
    out[k] = v;
  }
  const remote = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
  out['x-forwarded-proto'] ??= 'http';
  if (req.headers.host) out['x-forwarded-host'] ??= req.headers.host;
  return out;
}

function responseHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
}

function isResetBeforeResponse(err: unknown): boolean {
  // undici fails the request promise only before the response headers arrive.
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || err instanceof undiciErrors.SocketError;
}

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
