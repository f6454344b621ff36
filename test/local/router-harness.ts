import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request, type Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { freePort, isAlive } from '../../src/providers/local/processes.js';
import { RouterServer } from '../../src/providers/local/router/router-server.js';
import { type InstanceRecord, type RouterLimits, type RouterState, writeRouterState } from '../../src/providers/local/router-state.js';

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

/** The built router (dist/…/router-main.js) as its two real processes, for tests of what survives a process. */
export interface BuiltRouter {
  dir: string;
  port: number;
  statePath: string;
  admin: AdminClient;
  /** Pids of the primary and the secondary as recorded now in router.json. */
  pids(): { primary?: number; secondary?: number };
  /** The router's log (both processes write to it). */
  log(): string;
  /** Shuts both processes down (SIGKILL for what does not stop) and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/providers/local/router/router-main.js --state <dir>/router.json` as `zdd` does
 * (detached, IPC to learn that it serves; it starts its secondary itself). Needs `npm run build`.
 */
export async function startBuiltRouter(tempPrefix: string, state: Partial<RouterState> = {}): Promise<BuiltRouter> {
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
    updatedAt: new Date().toISOString(),
    ...state,
  });
  const script = fileURLToPath(new URL('../../dist/src/providers/local/router/router-main.js', import.meta.url));
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  const logFd = openSync(join(dir, 'router.log'), 'a', 0o600);
  const child = spawn(process.execPath, [script, '--state', statePath], { detached: true, stdio: ['ignore', logFd, logFd, 'ipc'], cwd: dir });
  closeSync(logFd);
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    child.once('message', (m: { t?: string }) => {
      clearTimeout(timer);
      resolve(m?.t === 'ready');
    });
    child.once('exit', () => resolve(false));
  });
  if (child.connected) child.disconnect();
  child.unref();
  const read = (): RouterState => JSON.parse(readFileSync(statePath, 'utf8')) as RouterState;
  const log = () => readFileSync(join(dir, 'router.log'), 'utf8');
  const stop = async () => {
    const admin = new AdminClient(join(dir, 'admin.sock'));
    const s = read();
    await admin.call('POST', '/shutdown', {}, 2_000).catch(() => undefined);
    const deadline = Date.now() + 7_000;
    const alive = (pid?: number) => pid !== undefined && isAlive(pid);
    while ((alive(s.routerPid) || alive(s.secondaryPid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const now = read();
    // Both, or the survivor would start the other again.
    for (const pid of new Set([s.routerPid, s.secondaryPid, now.routerPid, now.secondaryPid])) if (alive(pid)) process.kill(pid!, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  if (!ready) {
    const why = log();
    if (child.pid && isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the built router did not start:\n${why}`);
  }
  return { dir, port, statePath, admin: new AdminClient(join(dir, 'admin.sock')), pids: () => ({ primary: read().routerPid, secondary: read().secondaryPid }), log, stop };
}
