import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A client connection, with its requests not yet answered. */
type ClientSocket = Socket & { active?: number; waiting?: (() => void)[] };

/** Pipelined requests waiting on one client connection before it is no longer read; read again below PIPELINE_RESUME. */
const PIPELINE_PAUSE = 16;
const PIPELINE_RESUME = 4;

const BUSY = 'zdd router: every client connection is busy; try again\n';

/**
 * The client connections of one router process: at the connection limit the connection idle the
 * longest makes room (when every one is busy, the new one gets 503); the requests of one connection
 * go upstream one at a time; a request Node cannot parse is answered and its connection closed.
 */
export class ClientConnections {
  private readonly sockets = new Set<Socket>();
  /** Client connections between requests (keep-alive), longest idle first: the first to close when the limit is reached. */
  private readonly idleClients = new Set<Socket>();

  constructor(
    front: Server,
    private readonly maxConnections: () => number,
    private readonly serve: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    front.on('connection', (s: ClientSocket) => this.admit(s));
    front.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable || e.code === 'ECONNRESET') return socket.destroy();
      const status = e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      // end() alone would keep the fd until the peer closes (a client that never reads never does).
      endThenDestroy(socket, `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
  }

  /**
   * A new client connection. At the limit, the connection idle the longest (between keep-alive
   * requests) is closed to make room; when every connection is busy, the new one is answered 503
   * (Node's maxConnections would drop it with no answer).
   */
  private admit(s: ClientSocket): void {
    if (this.sockets.size >= this.maxConnections()) {
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
  handle(req: IncomingMessage, res: ServerResponse): void {
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

  /** Close every client connection now (shutting down, after the grace time). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/**
 * Request header lines accepted (HAProxy's default is 101). Node itself drops lines past its own
 * limit silently, and the router's X-Forwarded-* must not be among what is dropped.
 */
export const MAX_REQUEST_HEADERS = 100;

/** Why a request is refused with 400 before anything reaches an instance, or undefined. */
export function refusal(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  if (raw.length > 2 * MAX_REQUEST_HEADERS) return `more than ${MAX_REQUEST_HEADERS} header lines`;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host' && ++hosts > 1) return 'more than one Host header';
  return undefined;
}

/** How long a refused client gets to read the answer before its connection is destroyed. */
const LINGER_MS = 1_000;

/** Send `answer` and close; destroyed once it is flushed, or after LINGER_MS whatever the peer does. */
export function endThenDestroy(socket: Socket, answer: string): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(answer, () => socket.destroy());
}
