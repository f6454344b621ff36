import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { failedRequests, percentile, sharePercent, startLoad } from '../helpers/load-generator.js';

let server: Server | undefined;
afterEach(async () => {
  if (!server) return;
  const closed = new Promise((r) => server!.close(r));
  server.closeAllConnections();
  await closed;
  server = undefined;
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('load generator', () => {
  it('stops at the request bound and counts by status and revision', async () => {
    let n = 0;
    const url = await listen((_req, res) => {
      n++;
      const rev = n % 4 === 0 ? 'b' : 'a';
      res.setHeader('x-revision', rev);
      res.statusCode = rev === 'b' ? 500 : 200;
      res.end(rev);
    });
    const run = startLoad({ url, concurrency: 3, maxRequests: 200 });
    const r = await run.done;
    expect(r.requests).toBe(200);
    expect(n).toBe(200);
    expect(r.byRevision).toEqual({ a: 150, b: 50 });
    expect(r.byStatus).toEqual({ 200: 150, 500: 50 });
    expect(failedRequests(r)).toBe(50);
    expect(failedRequests(r, { allow5xxFrom: (rev) => rev === 'b' })).toBe(0);
    expect(sharePercent(r, 'b')).toBe(25);
    expect(r.latenciesMs).toHaveLength(200);
  });

  it('keeps connections alive (one per client)', async () => {
    const sockets = new Set<unknown>();
    const url = await listen((req, res) => {
      sockets.add(req.socket);
      res.end('x');
    });
    await startLoad({ url, concurrency: 2, maxRequests: 100 }).done;
    expect(sockets.size).toBe(2);
  });

  it('counts connection errors and stops at the time bound; windows see only their span', async () => {
    const url = await listen((_req, res) => res.end('a'));
    const run = startLoad({ url, concurrency: 2, maxDurationMs: 60_000, ratePerClient: 200 });
    await new Promise((r) => setTimeout(r, 150));
    const w = run.window();
    const closed = new Promise((r) => server!.close(r));
    server!.closeAllConnections();
    await closed;
    server = undefined;
    await new Promise((r) => setTimeout(r, 150));
    const inWindow = w.close();
    const total = await run.stop();
    expect(total.byRevision.a).toBeGreaterThan(0);
    expect(inWindow.connectionErrors).toBeGreaterThan(0);
    expect(inWindow.requests).toBeLessThan(total.requests);
    expect(total.connectionErrors).toBeGreaterThanOrEqual(inWindow.connectionErrors);
  });

  it('percentile uses nearest rank', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });
});
