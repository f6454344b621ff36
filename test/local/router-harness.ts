import { mkdtempSync } from 'node:fs';
import { request, type Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { freePort } from '../../src/providers/local/processes.js';
import { RouterServer } from '../../src/providers/local/router-server.js';
import { type InstanceRecord, type RouterLimits, writeRouterState } from '../../src/providers/local/router-state.js';

/**
 * The router in-process with real sockets, for the router-* tests: a RouterServer for service
 * `web` on a free port of 127.0.0.1 with no revisions yet, its admin client, and a request helper.
 */
export interface InProcessRouter {
  /** Temporary directory holding router.json and admin.sock; the caller removes it. */
  dir: string;
  port: number;
  router: RouterServer;
  admin: AdminClient;
}

export async function startInProcessRouter(tempPrefix: string, limits?: Partial<RouterLimits>): Promise<InProcessRouter> {
  const dir = mkdtempSync(join(tmpdir(), tempPrefix));
  const port = await freePort('127.0.0.1');
  const statePath = join(dir, 'router.json');
  await writeRouterState(statePath, {
    version: 1,
    service: 'web',
    host: '127.0.0.1',
    port,
    socketPath: join(dir, 'admin.sock'),
    testHeader: 'X-Canary',
    testValue: 'always',
    testRoute: null,
    weights: {},
    revisions: {},
    instances: [],
    ...(limits ? { limits } : {}),
    updatedAt: new Date().toISOString(),
  });
  const router = new RouterServer(statePath);
  await router.start();
  return { dir, port, router, admin: new AdminClient(join(dir, 'admin.sock')) };
}

/** Declares `revision` (desired 1) and adds one instance of it listening on `port`. */
export async function addRouterInstance(admin: AdminClient, id: string, revision: string, port: number, status: InstanceRecord['status'] = 'ready'): Promise<void> {
  await admin.call('PUT', '/revision', { spec: { id: revision }, desired: 1 });
  await admin.call('POST', '/instance', { instance: { id, revision, port, pid: 999_999, status, logFile: '/dev/null', startedAt: new Date().toISOString() } });
}

export interface RouterResponse {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  /** The x-zdd-revision header the router sets. */
  revision?: string;
}

/** One request to the router on 127.0.0.1:`port` (a fresh connection unless an agent is given). */
export function routerRequest(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent; encoding?: BufferEncoding } = {},
): Promise<RouterResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(opts.encoding ?? 'utf8'), headers: res.headers, revision: res.headers['x-zdd-revision'] as string | undefined }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Closes backends (dropping their open connections first when they are HTTP servers). */
export async function closeServers(servers: (Server | NetServer)[]): Promise<void> {
  for (const s of servers) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
}
