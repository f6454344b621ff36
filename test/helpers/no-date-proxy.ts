import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of `target` (moto) that drops the Date header from every answer, as some
 * proxies do. Behind it the S3 lock judges staleness on zdd's own (injectable) clock instead of
 * S3's, so a test makes a lock stale by advancing a FakeClock rather than waiting for real seconds.
 */
export interface NoDateProxy {
  endpoint: string;
  close(): Promise<void>;
}

export async function startNoDateProxy(target: string): Promise<NoDateProxy> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    res.sendDate = false;
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const headers = { ...answer.headers };
      delete headers.date;
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
