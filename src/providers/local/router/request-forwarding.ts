import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { urlHost } from '../processes.js';
import { refusal } from './client-connections.js';
import { forwardHeaders, requestHead, responseHeaders } from './proxy-headers.js';
import { RawExchange } from './raw-upstream.js';
import type { RouterCore } from './router-core.js';
import type { LiveInstance } from './upstream-instances.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Attempts per request across instances (first try included). */
export const MAX_ATTEMPTS = 3;

/**
 * A client's HTTP request to an instance and the answer back: the pick (test route, sticky
 * revision, weights), a plain keep-alive socket for a request without a body, undici for the rest,
 * a retry on another instance when the backend cannot have acted on the request, and a 502/504
 * naming the revision otherwise. Every outcome is counted once.
 */
export function forwardRequest(core: RouterCore, req: IncomingMessage, res: ServerResponse): void {
  const refused = refusal(req);
  if (refused) {
    res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end(`zdd router: ${refused}\n`);
    return;
  }
  try {
    const started = performance.now();
    const tested = core.isTestRequest(req);
    const tried = new Set<string>();
    // A test request is never pinned and gets no cookie (it names the revision it is served by).
    const pinned = tested ? (core.state.testRoute ?? undefined) : core.pinnedRevision(req);
    const target = core.upstreams.pick(tested, tried, undefined, pinned);
    if (!target) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end(core.noTarget(tested));
      return;
    }
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    const hasBody = te !== undefined || (cl !== undefined && cl !== '0');
    if (!hasBody && IDEMPOTENT.has(req.method ?? 'GET')) {
      fast(core, req, res, requestHead(req, withHost(forwardHeaders(req, false, core.testHeader), core.state.host, target.record.port)), tested, tried, started, target, pinned);
      return;
    }
    const ex = new Exchange(core, req, res, forwardHeaders(req, false, core.testHeader), hasBody ? lazyBody(req) : null, tested, tried, started, pinned);
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
function fast(core: RouterCore, req: IncomingMessage, res: ServerResponse, head: string, tested: boolean, tried: Set<string>, started: number, first: LiveInstance, pinned: string | undefined): void {
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
      core.upstreams.release(inst);
      return true;
    };
    const ex = new RawExchange(
      {
        done: (_ex, error) => {
          if (release()) core.record(req, revision, tested, performance.now() - started, error);
        },
        failed: (ex, err, neverConnected, responseStarted) => {
          if (!release()) return;
          if (clientGone) {
            if (responseStarted) core.record(req, revision, tested, performance.now() - started, true);
            return;
          }
          if (responseStarted) {
            core.record(req, revision, tested, performance.now() - started, true);
            res.destroy();
            return;
          }
          if (neverConnected) core.upstreams.eject(inst);
          // A connect timeout is retried (never connected); a headers timeout is not (the instance may have acted).
          if ((neverConnected || ex.nothingReceived) && err.code !== 'UND_ERR_HEADERS_TIMEOUT' && n < MAX_ATTEMPTS) {
            const next = core.upstreams.pick(tested, tried, revision);
            if (next) return attempt(next, n + 1);
          }
          core.record(req, revision, tested, performance.now() - started, true);
          const timedOut = isTimeout(err);
          res
            .writeHead(timedOut ? 504 : 502, { 'content-type': 'text/plain', 'x-zdd-revision': revision })
            .end(`zdd router: revision ${revision} did not answer${timedOut ? ' in time' : ''} (${describeError(err)})\n`);
        },
      },
      req,
      res,
      head,
      () => core.answerHeaders(revision, pinned),
    );
    current = ex;
    ex.start(inst.raw, core.limits.upstreamHeadersTimeoutMs);
  };
  attempt(first, 1);
}

function dispatch(core: RouterCore, inst: LiveInstance, ex: Exchange): void {
  inst.inflight++;
  inst.pool.dispatch(
    {
      path: ex.req.url ?? '/',
      method: (ex.req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: ex.headers,
      body: ex.body,
      headersTimeout: core.limits.upstreamHeadersTimeoutMs,
      bodyTimeout: 0,
    },
    ex,
  );
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
    dispatch(this.core, inst, this);
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
    if (neverConnected) this.core.upstreams.eject(inst);
    // Retry only when the backend cannot have acted on the request: never connected, or an
    // idempotent method whose connection broke before any response byte. A streamed body
    // that was already read cannot be replayed.
    const bodyIntact = !this.body || !this.body.started;
    const method = this.req.method ?? 'GET';
    const retryable = bodyIntact && (neverConnected || (IDEMPOTENT.has(method) && isResetBeforeResponse(err)));
    if (retryable && this.attempt < MAX_ATTEMPTS && !res.headersSent) {
      const next = this.core.upstreams.pick(this.tested, this.tried, inst.record.revision);
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
    this.core.upstreams.release(this.inst);
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

export function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
}

export function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

function isResetBeforeResponse(err: unknown): boolean {
  // undici fails the request before the response headers with these.
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || err instanceof undiciErrors.SocketError;
}

export function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

/** HTTP/1.0 clients may send no Host: the instance still gets one. */
function withHost(headers: string[], host: string, port: number): string[] {
  for (let i = 0; i < headers.length; i += 2) if (headers[i].length === 4 && headers[i].toLowerCase() === 'host') return headers;
  headers.push('host', `${urlHost(host)}:${port}`);
  return headers;
}
