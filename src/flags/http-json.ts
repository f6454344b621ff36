import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * A small HTTP client for flag service APIs on node:http. Why not fetch: the kill switch is one
 * call that must land fast, and fetch's first call in a process pays for loading undici (about
 * 150 ms on a busy machine, measured); node:http is already loaded. Connections are kept alive
 * between the write and its read-back.
 */
export class HttpJsonClient {
  private readonly http = new HttpAgent({ keepAlive: true });
  private readonly https = new HttpsAgent({ keepAlive: true });

  /** One request; resolves with the status and body of any answer, rejects on network errors and timeouts. */
  request(url: string, opts: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number }): Promise<{ status: number; text: string }> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        u,
        {
          method: opts.method,
          headers: { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': Buffer.byteLength(opts.body) } : {}) },
          agent: secure ? this.https : this.http,
          timeout: opts.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs}ms`)));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
