import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  body: any;
  at: number;
}

/**
 * A real HTTP server on 127.0.0.1 (free port) standing in for Slack and a deploy webhook:
 * `/ok/*` answers 200, `/fail/*` 500, `/hang/*` never answers (until the receiver closes).
 */
export interface WebhookReceiver {
  url(path: string): string;
  received: Received[];
  bodies(prefix: string): any[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (d) => (data += String(d)));
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = JSON.parse(data);
      } catch {
        // kept as text
      }
      received.push({ path: req.url ?? '', body, at: Date.now() });
      if (req.url?.startsWith('/hang')) {
        hanging.add(res);
        return;
      }
      res.statusCode = req.url?.startsWith('/fail') ? 500 : 200;
      res.end(res.statusCode === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    bodies: (prefix) => received.filter((r) => r.path.startsWith(prefix)).map((r) => r.body),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
