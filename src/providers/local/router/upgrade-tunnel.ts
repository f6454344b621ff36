import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { endThenDestroy, refusal } from './client-connections.js';
import { forwardHeaders, requestHead } from './proxy-headers.js';
import { ChunkedDecoder, parseResponseHead } from './raw-upstream.js';
import { MAX_ATTEMPTS, isConnectError } from './request-forwarding.js';
import type { RouterCore } from './router-core.js';

/**
 * A WebSocket (Upgrade) request: a raw connection to a picked instance, retried on another when it
 * is refused; a 101 opens a tunnel counted in the instance's in-flight work until either side
 * closes, any other answer goes back as a plain response and both connections close. CONNECT is
 * refused.
 */
export function openTunnel(core: RouterCore, req: IncomingMessage, client: Socket, head: Buffer): void {
  client.on('error', () => undefined);
  const refused = req.method === 'CONNECT' ? 'CONNECT is not proxied' : refusal(req);
  if (refused) {
    const status = req.method === 'CONNECT' ? '405 Method Not Allowed' : '400 Bad Request';
    const text = `zdd router: ${refused}\n`;
    endThenDestroy(client, `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`);
    return;
  }
  const tested = core.isTestRequest(req);
  const tried = new Set<string>();
  const started = performance.now();
  const headers = forwardHeaders(req, true, core.testHeader);
  const attempt = (n: number): void => {
    const inst = core.upstreams.pick(tested, tried);
    if (!inst) {
      client.end(`HTTP/1.1 ${tried.size ? '502 Bad Gateway' : '503 Service Unavailable'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${core.noTarget(tested)}`);
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
      core.upstreams.release(inst);
    };
    const up = connect({ port: inst.record.port, host: core.state.host });
    up.setNoDelay(true);
    const connectTimer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), core.limits.upstreamConnectTimeoutMs);
    up.once('error', (err) => {
      clearTimeout(connectTimer);
      if (!connected && isConnectError(err)) {
        finish();
        core.upstreams.eject(inst);
        if (n < MAX_ATTEMPTS && !client.destroyed) return attempt(n + 1);
      }
      finish();
      core.record(req, revision, tested, performance.now() - started, true);
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
      awaitSwitch(core, up, client, req, revision, (status) => {
        core.record(req, revision, tested, performance.now() - started, status >= 500);
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
function awaitSwitch(core: RouterCore, up: Socket, client: Socket, req: IncomingMessage, revision: string, settled: (status: number) => void): void {
  let buf = Buffer.alloc(0);
  let body: ((d: Buffer) => boolean) | undefined;
  const answer = (status: number, text: string) => {
    up.off('data', onData);
    settled(status);
    endThenDestroy(client, `HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\nx-zdd-revision: ${revision}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  };
  const timer = setTimeout(() => answer(504, `zdd router: revision ${revision} did not answer in time\n`), core.limits.upstreamHeadersTimeoutMs);
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
