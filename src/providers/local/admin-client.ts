import { request } from 'node:http';

/** The admin channel answered with a refusal (409) or an error. */
export class AdminRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** JSON over HTTP on the router's unix socket. */
export class AdminClient {
  constructor(readonly socketPath: string) {}

  /** True when a router answers on the socket. */
  async ping(timeoutMs = 1_000): Promise<boolean> {
    try {
      await this.call('GET', '/state', undefined, timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  /** One admin request; rejects with AdminRequestError on a non-200 answer, or the socket error. */
  call<T = any>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
          timeout: timeoutMs,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: any = {};
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              return reject(new AdminRequestError(`router admin answered non-JSON: ${text.slice(0, 200)}`, res.statusCode ?? 0));
            }
            if (res.statusCode !== 200) return reject(new AdminRequestError(json.error ?? `router admin answered ${res.statusCode}`, res.statusCode ?? 0));
            resolve(json as T);
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`router admin did not answer within ${timeoutMs}ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
