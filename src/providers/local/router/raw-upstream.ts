import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

/** Response heads larger than this are refused (502): no app sends that much in headers. */
const MAX_HEAD_BYTES = 64 * 1024;
/** An idle upstream connection is closed after this long, before a Node app's 5 s keep-alive timeout would race a request. */
const IDLE_MS = 4_000;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate']);

/** RFC 9110 5.6.2 token: what a header name may be (Node's writeHead throws on anything else). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Bytes a header value may not hold: controls other than tab, and DEL (Node's writeHead throws on them). */
const BAD_VALUE_BYTE = /[^\t\x20-\x7e\x80-\xff]/;

type UpstreamSocket = Socket & { exchange?: RawExchange; idle?: boolean };

/**
 * Keep-alive connections to one instance, as plain sockets. The router's hot path (requests
 * without a body, which are nearly all) writes the request head itself and parses only the
 * response framing; measured, this costs about a quarter less CPU per request than an HTTP client
 * library (see BENCHMARKS.md). Requests with a body go through undici.
 */
export class RawPool {
  private readonly idle: UpstreamSocket[] = [];
  /** Exchanges waiting for a connection while `open` is at the limit, first come first served. */
  private readonly waiting: ((socket: UpstreamSocket, reused: boolean) => void)[] = [];
  private open = 0;
  private closing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connectTimeoutMs: () => number,
    /** Connections (busy, idle or connecting) this pool opens at most; more requests wait for one. */
    private readonly maxConnections: () => number = () => Infinity,
  ) {}

  /** Hands `use` a connection: an idle one (reused = true), a new one (connecting), or the next one free when at the limit. */
  take(use: (socket: UpstreamSocket, reused: boolean) => void): void {
    for (;;) {
      const s = this.idle.pop();
      if (!s) break;
      if (s.destroyed || !s.writable) continue;
      s.idle = false;
      s.setTimeout(0);
      return use(s, true);
    }
    if (this.open >= this.maxConnections()) {
      this.waiting.push(use);
      return;
    }
    use(this.connect(), false);
  }

  private connect(): UpstreamSocket {
    this.open++;
    const s = connect({ host: this.host, port: this.port, noDelay: true }) as UpstreamSocket;
    s.setTimeout(this.connectTimeoutMs());
    s.on('data', (d: Buffer) => (s.exchange ? s.exchange.onData(d) : s.destroy()));
    s.on('end', () => s.exchange?.onEnd());
    s.on('error', (e) => s.exchange?.onSocketError(e));
    s.on('close', () => {
      this.open--;
      s.exchange?.onSocketError(Object.assign(new Error('upstream closed the connection'), { code: 'UND_ERR_SOCKET' }));
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
      const next = this.open < this.maxConnections() ? this.waiting.shift() : undefined;
      if (next) next(this.connect(), false);
    });
    s.on('timeout', () => {
      if (s.idle) s.destroy();
      else s.exchange?.onSocketError(Object.assign(new Error(`connect timeout (${this.connectTimeoutMs()}ms)`), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
    });
    s.once('connect', () => s.setTimeout(0));
    return s;
  }

  /** Back to the first waiting exchange, or to the idle list, after a complete response (destroyed when the pool closes). */
  give(s: UpstreamSocket): void {
    s.exchange = undefined;
    if (this.closing || s.destroyed) {
      s.destroy();
      return;
    }
    const next = this.waiting.shift();
    if (next) return next(s, true);
    s.idle = true;
    s.setTimeout(IDLE_MS);
    this.idle.push(s);
  }

  /** No new connections are kept; idle ones close now, busy ones after their response. */
  close(): void {
    this.closing = true;
    for (const s of this.idle.splice(0)) s.destroy();
  }
}

/** What the exchange needs from the router. */
export interface RawExchangeHost {
  /** The request could not be completed on this attempt: retry elsewhere, or answer an error. */
  failed(ex: RawExchange, err: NodeJS.ErrnoException, neverConnected: boolean, responseStarted: boolean): void;
  /** The response is complete (or the client left). */
  done(ex: RawExchange, error: boolean): void;
}

/**
 * One request without a body on one upstream connection: writes the head, parses the response
 * head (1xx skipped), then forwards the body framed by content-length, chunked encoding, or the
 * end of the connection; writes to the client with backpressure.
 */
export class RawExchange {
  status = 0;
  private buf: Buffer | null = null;
  private mode: 'head' | 'length' | 'chunked' | 'close' | 'done' = 'head';
  private remaining = 0;
  private chunk?: ChunkedDecoder;
  private keepAlive = true;
  private gotBytes = false;
  private headersTimer?: NodeJS.Timeout;
  private socket?: UpstreamSocket;
  private finished = false;
  /** The response head, held until its first body byte or its end: a body that breaks before then is still a clean 502. */
  private pendingHead?: [status: number, headers: string[]];

  constructor(
    private readonly host: RawExchangeHost,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly head: string,
    /** Headers the router adds to the answer (`x-zdd-revision`, a sticky-session cookie). */
    private readonly answerHeaders: () => string[],
  ) {}

  start(pool: RawPool, headersTimeoutMs: number): void {
    this.pool = pool;
    // Counted from now: waiting for a free connection is part of the time the instance has to answer.
    this.headersTimer = setTimeout(() => this.onHeadersTimeout(headersTimeoutMs), headersTimeoutMs);
    pool.take((socket, reused) => {
      // Gave up while waiting (client gone, timed out): the connection goes to the next one.
      if (this.finished) return pool.give(socket);
      this.socket = socket;
      socket.exchange = this;
      this.reused = reused;
      socket.write(this.head, 'latin1');
    });
  }

  private pool?: RawPool;
  /** Whether the connection was an idle one (a close before any byte may be the server closing it). */
  reused = false;

  /** The client left before the response was complete: the connection cannot be reused. */
  abort(): void {
    if (this.finished) return;
    this.finish();
    this.socket?.destroy();
    this.host.failed(this, Object.assign(new Error('the client closed the connection'), { code: 'ECONNRESET' }), false, this.status !== 0);
  }

  onData(d: Buffer): void {
    try {
      this.onBytes(d);
    } catch (e) {
      // A router bug must cost this one request (a 502), never the process.
      console.error(`zdd router: ${(e as Error).stack ?? e}`);
      this.fail(Object.assign(new Error(`internal error: ${(e as Error).message}`), { code: 'ERR_ZDD_INTERNAL' }));
    }
  }

  private onBytes(d: Buffer): void {
    this.gotBytes = true;
    if (this.mode === 'head') {
      this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
      while (this.mode === 'head') {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > MAX_HEAD_BYTES) this.fail(Object.assign(new Error('response head too large'), { code: 'UND_ERR_HEADERS_OVERFLOW' }));
          return;
        }
        const rest = this.buf.subarray(end + 4);
        if (!this.parseHead(this.buf.toString('latin1', 0, end))) return;
        this.buf = rest;
      }
      d = this.buf!;
      this.buf = null;
      if (this.mode === 'done') return this.complete(d.length > 0);
    }
    this.body(d);
  }

  onEnd(): void {
    if (this.mode === 'close') this.complete(true);
  }

  onSocketError(err: NodeJS.ErrnoException): void {
    if (this.finished) return;
    if (this.mode === 'close' && err.code === 'UND_ERR_SOCKET') return this.complete(true);
    this.fail(err);
  }

  private onHeadersTimeout(ms: number): void {
    if (this.finished || this.mode !== 'head') return;
    this.fail(Object.assign(new Error(`no response headers within ${ms}ms`), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }

  /** false when the head was refused (the exchange failed). */
  private parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const statusLine = lines[0];
    const status = Number(statusLine.slice(9, 12));
    if (!statusLine.startsWith('HTTP/1.') || !(status >= 100 && status <= 999)) {
      this.fail(Object.assign(new Error(`not an HTTP/1 response: ${JSON.stringify(statusLine.slice(0, 40))}`), { code: 'UND_ERR_SOCKET' }));
      return false;
    }
    if (status === 101) {
      // This path carries no upgrade request (those tunnel elsewhere): a 101 here has no protocol to switch to.
      this.fail(Object.assign(new Error('101 Switching Protocols to a request that asked for no upgrade'), { code: 'UND_ERR_SOCKET' }));
      return false;
    }
    if (status < 200) {
      // 103 Early Hints go to the client as HAProxy forwards them (their Link headers); other 1xx are dropped. Another head follows.
      if (status === 103) {
        const links = lines.slice(1).filter((l) => /^link:/i.test(l) && !BAD_VALUE_BYTE.test(l)).map((l) => l.slice(5).trim());
        if (links.length > 0) this.res.writeEarlyHints({ link: links });
      }
      return true;
    }
    clearTimeout(this.headersTimer);
    let length = -1;
    let chunked = false;
    this.keepAlive = statusLine.startsWith('HTTP/1.1');
    const headers: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const rawValue = line.slice(colon + 1);
      // Refused whole, as HAProxy and undici do: a line that is no header (obs-fold included), a
      // name that is no token, a value with a control byte (a bare LF or CR, NUL, DEL).
      if (colon <= 0 || !TOKEN.test(name) || BAD_VALUE_BYTE.test(rawValue)) {
        this.fail(Object.assign(new Error(`invalid response header line ${JSON.stringify(line.slice(0, 80))}`), { code: 'UND_ERR_INVALID_RESPONSE_HEADER' }));
        return false;
      }
      const value = rawValue.trim();
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        const n = Number(value);
        if (!Number.isSafeInteger(n) || n < 0 || (length >= 0 && length !== n)) {
          this.fail(Object.assign(new Error(`invalid content-length ${JSON.stringify(value)}`), { code: 'UND_ERR_SOCKET' }));
          return false;
        }
        length = n;
      } else if (lower === 'transfer-encoding') {
        chunked = value.toLowerCase().endsWith('chunked');
      } else if (lower === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) this.keepAlive = false;
        else if (v.includes('keep-alive')) this.keepAlive = true;
      }
      if (HOP_BY_HOP.has(lower) || (chunked && lower === 'content-length')) continue;
      headers.push(name, value);
    }
    headers.push(...this.answerHeaders());
    this.status = status;
    const noBody = this.req.method === 'HEAD' || status === 204 || status === 304;
    if (chunked && !noBody) {
      // chunked wins over content-length (RFC 9112 6.3); the client gets Node's own chunking
      const i = headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === 'content-length');
      if (i >= 0) headers.splice(i, 2);
    }
    this.pendingHead = [status, headers];
    if (noBody || (!chunked && length === 0)) this.mode = 'done';
    else if (chunked) {
      this.mode = 'chunked';
      this.chunk = new ChunkedDecoder();
    } else if (length > 0) {
      this.mode = 'length';
      this.remaining = length;
    } else {
      this.mode = 'close';
      this.keepAlive = false;
    }
    return true;
  }

  private body(d: Buffer): void {
    if (d.length === 0) return;
    if (this.mode === 'length') {
      if (d.length > this.remaining) {
        // more than the response: the connection is out of step, do not reuse it
        d = d.subarray(0, this.remaining);
        this.keepAlive = false;
      }
      this.remaining -= d.length;
      this.write(d);
      if (this.remaining === 0) this.complete(!this.keepAlive);
    } else if (this.mode === 'chunked') {
      const out = this.chunk!.push(d);
      if (out === null) return this.fail(Object.assign(new Error('invalid chunked encoding'), { code: 'UND_ERR_SOCKET' }));
      for (const part of out.data) this.write(part);
      if (out.done) this.complete(out.extra || !this.keepAlive);
    } else if (this.mode === 'close') {
      this.write(d);
    }
  }

  private flushHead(): void {
    if (!this.pendingHead) return;
    this.res.writeHead(...this.pendingHead);
    this.pendingHead = undefined;
  }

  private write(d: Buffer): void {
    this.flushHead();
    if (!this.res.write(d)) {
      const s = this.socket!;
      s.pause();
      this.res.once('drain', () => s.resume());
    }
  }

  private complete(dropConnection: boolean): void {
    if (this.finished) return;
    this.mode = 'done';
    this.finish();
    this.flushHead();
    this.res.end();
    const s = this.socket!;
    // Paused for backpressure on the last write: the client's drain no longer concerns this connection.
    if (s.isPaused()) s.resume();
    if (dropConnection || !this.keepAlive) s.destroy();
    else this.pool!.give(s);
    this.host.done(this, this.status >= 500);
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.finished) return;
    this.finish();
    this.socket?.destroy();
    const neverConnected = !this.reused && !this.gotBytes && isConnectError(err);
    // Started: the head went to the client (Node sends it with the first body byte or the end).
    this.host.failed(this, err, neverConnected, this.status !== 0 && this.pendingHead === undefined);
  }

  private finish(): void {
    this.finished = true;
    clearTimeout(this.headersTimer);
    if (this.socket) this.socket.exchange = undefined;
  }

  /** The connection broke (or was closed by the server) before any response byte. */
  get nothingReceived(): boolean {
    return !this.gotBytes;
  }
}

/** A response head read by hand: status and header lines, or why it cannot be forwarded. */
export type ParsedHead = { status: number; headers: [name: string, value: string][] } | { error: string };

/** Parses a response head (without its final blank line), refusing what parseHead refuses. */
export function parseResponseHead(text: string): ParsedHead {
  const lines = text.split('\r\n');
  const status = Number(lines[0].slice(9, 12));
  if (!lines[0].startsWith('HTTP/1.') || !(status >= 100 && status <= 999)) return { error: `not an HTTP/1 response: ${JSON.stringify(lines[0].slice(0, 40))}` };
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const rawValue = line.slice(colon + 1);
    if (colon <= 0 || !TOKEN.test(name) || BAD_VALUE_BYTE.test(rawValue)) return { error: `invalid response header line ${JSON.stringify(line.slice(0, 80))}` };
    headers.push([name, rawValue.trim()]);
  }
  return { status, headers };
}

/** Decodes `Transfer-Encoding: chunked` as it arrives; trailers are dropped. */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';
  private left = 0;

  /** The data in `d`, and whether the body ended (extra: bytes after its end); null when malformed. */
  push(d: Buffer): { data: Buffer[]; done: boolean; extra: boolean } | null {
    const data: Buffer[] = [];
    let i = 0;
    while (i < d.length) {
      if (this.state === 'data') {
        const n = Math.min(this.left, d.length - i);
        data.push(d.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-crlf';
        continue;
      }
      const nl = d.indexOf(10, i);
      if (nl < 0) {
        this.line += d.toString('latin1', i);
        if (this.line.length > 4096) return null;
        break;
      }
      const line = (this.line + d.toString('latin1', i, nl)).replace(/\r$/, '');
      this.line = '';
      i = nl + 1;
      if (this.state === 'data-crlf') {
        if (line !== '') return null;
        this.state = 'size';
      } else if (this.state === 'size') {
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (!Number.isSafeInteger(size) || size < 0 || !/^[0-9a-fA-F]+$/.test(line.split(';')[0].trim())) return null;
        if (size === 0) this.state = 'trailer';
        else {
          this.left = size;
          this.state = 'data';
        }
      } else if (line === '') {
        return { data, done: true, extra: i < d.length };
      }
    }
    return { data, done: false, extra: false };
  }
}

function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH';
}
