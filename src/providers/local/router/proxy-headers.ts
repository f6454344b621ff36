import type { IncomingMessage } from 'node:http';
import { PROBE_HEADER } from '../router-state.js';

/** Hop-by-hop headers (RFC 9110 7.6.1) plus those undici sets itself; never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'proxy-authorization', 'proxy-authenticate']);

/**
 * The request headers to send upstream, as a flat [name, value, …] list (what undici takes without
 * copying): hop-by-hop headers and those named in Connection dropped, and the client's own
 * X-Forwarded-* replaced by what the router saw, so a client cannot forge its address. The
 * test-route header (`testHeader`, lower case) is the router's: it never reaches the app.
 * With `upgrade`, Upgrade is kept and Connection is `Upgrade` alone (other headers it lists are dropped too).
 */
export function forwardHeaders(req: IncomingMessage, upgrade = false, testHeader = ''): string[] {
  const raw = req.rawHeaders;
  const conn = req.headers.connection;
  const listed = conn && conn !== 'keep-alive' && conn !== 'close' ? connectionTokens(conn) : undefined;
  // The router's own first: whatever a client sends after them cannot push them out.
  const out: string[] = ['x-forwarded-for', req.socket.remoteAddress ?? '', 'x-forwarded-proto', 'http'];
  if (req.headers.host) out.push('x-forwarded-host', req.headers.host);
  if (upgrade) out.push('Connection', 'Upgrade');
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (lower.startsWith('x-forwarded-') || lower === 'forwarded' || lower === testHeader || lower === PROBE_HEADER) continue;
    if (HOP_BY_HOP.has(lower)) {
      if (!(upgrade && lower === 'upgrade')) continue;
    }
    if (listed?.has(lower) && !(upgrade && lower === 'upgrade')) continue;
    out.push(name, raw[i + 1]);
  }
  return out;
}

/** Upstream response headers (raw, from undici) as a flat list for writeHead, hop-by-hop ones dropped, then the router's own (`answerHeaders`). */
export function responseHeaders(raw: Buffer[], answerHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString('latin1');
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    out.push(name, raw[i + 1].toString('latin1'));
  }
  out.push(...answerHeaders);
  return out;
}

/** The request head for a tunnelled (Upgrade) request, headers already filtered. */
export function requestHead(req: IncomingMessage, headers: string[]): string {
  let head = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

function connectionTokens(v: string): Set<string> {
  return new Set(
    v
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}
