/** Network error codes (from undici's `cause`) and what they mean to the person reading a check result. */
const CAUSES: Record<string, string> = {
  ENOTFOUND: 'DNS lookup failed (no such host)',
  EAI_AGAIN: 'DNS lookup failed (temporary DNS error)',
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'connect timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout waiting for response headers',
  UND_ERR_BODY_TIMEOUT: 'timeout reading the response body',
  UND_ERR_SOCKET: 'connection closed by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Why `fetch(url)` threw, in one line that names the URL and the cause (DNS, refused, timeout,
 * TLS …) instead of undici's bare "fetch failed".
 */
export function describeFetchError(method: string, url: string, e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string; name?: string } };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return `${method} ${url}: ${err.message ?? 'aborted'}`;
  const cause = err?.cause;
  const code = cause?.code ?? '';
  let what = CAUSES[code];
  if (!what && (/CERT|SSL|TLS/.test(code) || /certificate|ssl|tls/i.test(cause?.message ?? ''))) what = `TLS error: ${cause?.message ?? code}`;
  if (!what) what = cause?.message ?? err?.message ?? String(e);
  return `${method} ${url}: ${what}${code && !what.includes(code) ? ` (${code})` : ''}`;
}
