import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a real server (moto, a kube-apiserver) that loses one answer: the
 * first request the armed predicate picks is forwarded whole, the server's answer is read to its
 * end (the write has landed), and then the client's socket is destroyed without a byte of it —
 * a network that failed between the server and the client. The client sees a reset connection.
 */
export interface LostAnswerProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Every request passed on, with the server's status and whether its answer was lost. */
  log: { method: string; path: string; status: number; lost: boolean }[];
  /** Lose the answer to the next request `pick` chooses (once). */
  loseNext(pick: (req: IncomingMessage) => boolean): void;
  close(): Promise<void>;
}

export async function startLostAnswerProxy(target: string, opts: { ca?: string; stripDate?: boolean } = {}): Promise<LostAnswerProxy> {
  const to = new URL(target);
  const log: LostAnswerProxy['log'] = [];
  let pick: ((req: IncomingMessage) => boolean) | undefined;
  const server = createServer((req, res) => {
    const lose = !!pick?.(req);
    if (lose) pick = undefined;
    const send = to.protocol === 'https:' ? httpsRequest : httpRequest;
    const up = send(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host }, ...(opts.ca ? { ca: opts.ca } : {}) },
      (answer) => {
        log.push({ method: req.method ?? '', path: req.url ?? '', status: answer.statusCode ?? 0, lost: lose });
        if (lose) {
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        const headers = { ...answer.headers };
        if (opts.stripDate) {
          res.sendDate = false;
          delete headers.date;
        }
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    loseNext: (p) => (pick = p),
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
