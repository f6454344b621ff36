import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeApi } from '../../src/providers/haproxy/runtime-api.js';
import { freePort } from './moto.js';

/**
 * A real HAProxy (Debian's `haproxy` package, 2.6) on free 127.0.0.1 ports with a generated
 * haproxy.cfg: the one docs/haproxy.md tells users to write (admin stats socket, a backend of
 * zdd's server slots, the test-route map read by the frontend's use_backend, `http-reuse always`,
 * keep-alive both ways). `reload()` starts a new process that takes over with `-sf` (and the
 * listening sockets with `-x`), as `systemctl reload` does. Missing binary: tests skip with a
 * message, except under CI where they fail.
 */

export const HAPROXY_BIN = process.env.ZDD_HAPROXY_BIN ?? '/usr/sbin/haproxy';

export function skipWithoutHaproxy(): boolean {
  if (existsSync(HAPROXY_BIN)) return false;
  if (process.env.CI) throw new Error(`${HAPROXY_BIN} is not installed, and CI must run the HAProxy tests: apt-get install -y haproxy`);
  console.warn(`Skipping HAProxy tests: ${HAPROXY_BIN} not found. Install it with: apt-get install -y haproxy`);
  return true;
}

export interface HaproxyOptions {
  backend?: string;
  testBackend?: string;
  /** Slots per backend (`server-template zdd 1-N`). Default 8. */
  slots?: number;
  /** Keep Runtime API changes across reloads (server-state-file written before each reload). Default true. */
  serverStateFile?: boolean;
  /** Also open an operator-level (not admin) socket, for the "no admin level" test. */
  operatorSocket?: boolean;
  /** Declare the slots as `127.0.0.1:1` (addresses not kept across reloads) instead of by name as docs/haproxy.md says. */
  slotsDeclaredByAddress?: boolean;
  /** Name the serving slot in every answer (`http-response set-header x-zdd-server %s`), as docs/haproxy.md says. Default true. */
  tagAnswers?: boolean;
  /** Pin clients to their server by cookie, with the lines docs/haproxy.md gives for sticky sessions. */
  sticky?: boolean;
  /** Static servers of the user's own in the backend, e.g. `server legacy 127.0.0.1:9 weight 10`. */
  extraBackendLines?: string[];
}

export interface Haproxy {
  dir: string;
  /** Production frontend, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  socket: string;
  operatorSocket: string;
  /** The same socket over TCP (host:port), level admin. */
  tcpApi: string;
  map: string;
  backend: string;
  testBackend: string;
  stateFile: string;
  configFile: string;
  api: RuntimeApi;
  /** The pid of the process serving now. */
  pid(): number;
  /** `systemctl reload`-style: save server state (when configured), start a new process with -sf/-x, wait for it. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHaproxy(opts: HaproxyOptions = {}): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-haproxy-'));
  const port = await freePort();
  const apiPort = await freePort();
  const backend = opts.backend ?? 'app';
  const testBackend = opts.testBackend ?? 'app_test';
  const slots = opts.slots ?? 8;
  const socket = join(dir, 'admin.sock');
  const operatorSocket = join(dir, 'operator.sock');
  const map = join(dir, 'zdd-test-route.map');
  const stateFile = join(dir, 'server-state');
  const configFile = join(dir, 'haproxy.cfg');
  const keepState = opts.serverStateFile !== false;
  writeFileSync(map, '');
  const slotTarget = opts.slotsDeclaredByAddress ? '127.0.0.1:1 disabled' : 'zdd-slot.invalid:1 disabled init-addr last,127.0.0.1';
  writeFileSync(
    configFile,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin expose-fd listeners`,
      `  stats socket ipv4@127.0.0.1:${apiPort} level admin`,
      ...(opts.operatorSocket ? [`  stats socket ${operatorSocket} mode 600 level operator`] : []),
      ...(keepState ? [`  server-state-file ${stateFile}`] : []),
      '  nbthread 2',
      '  hard-stop-after 15s',
      '',
      'defaults',
      '  mode http',
      '  option http-keep-alive',
      // As docs/haproxy.md says: on a reload, keep idle client connections until their next request.
      '  option idle-close-on-response',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout http-keep-alive 60s',
      ...(keepState ? ['  load-server-state-from-file global'] : []),
      '',
      'frontend web',
      `  bind 127.0.0.1:${port}`,
      `  use_backend %[req.hdr(X-Canary),map(${map})] if { req.hdr(X-Canary),map(${map}) -m found }`,
      `  default_backend ${backend}`,
      '',
      `backend ${backend}`,
      '  balance roundrobin',
      '  http-reuse always',
      ...(opts.tagAnswers === false ? [] : ['  http-response set-header x-zdd-server %s']),
      ...(opts.sticky ? ['  cookie zdd-server insert indirect nocache dynamic maxidle 30m', '  dynamic-cookie-key zdd-test-secret', '  option redispatch'] : []),
      `  server-template zdd 1-${slots} ${slotTarget}`,
      ...(opts.extraBackendLines ?? []).map((l) => `  ${l}`),
      '',
      `backend ${testBackend}`,
      '  balance roundrobin',
      '  http-reuse always',
      `  server-template zdd 1-4 ${slotTarget}`,
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  const retired = new Set<ChildProcess>();
  let stderr = '';
  const api = new RuntimeApi(socket);

  const launch = async (previous?: ChildProcess) => {
    const args = ['-db', '-f', configFile, ...(previous ? ['-x', socket, '-sf', String(previous.pid)] : [])];
    const next = spawn(HAPROXY_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    next.stderr?.on('data', (d) => {
      stderr = (stderr + String(d)).slice(-4000);
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (next.exitCode !== null) throw new Error(`haproxy exited with ${next.exitCode}: ${stderr}`);
      try {
        const info = await new RuntimeApi(socket, 1000).ask('show info');
        if (info.includes(`Pid: ${next.pid}`)) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`haproxy (pid ${next.pid}) did not answer on ${socket} within 10s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    child = next;
  };
  await launch();

  const stopChild = async (c: ChildProcess, signal: NodeJS.Signals) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  return {
    dir,
    url: `http://127.0.0.1:${port}`,
    port,
    socket,
    operatorSocket,
    tcpApi: `127.0.0.1:${apiPort}`,
    map,
    backend,
    testBackend,
    stateFile,
    configFile,
    api,
    pid: () => child?.pid ?? 0,
    async reload() {
      // What the documented ExecReload does: save the servers' state for the new process to load.
      if (keepState) writeFileSync(stateFile, `${await api.ask('show servers state')}\n`);
      const old = child!;
      await launch(old);
      // The old process finishes its requests and exits by itself (-sf); do not wait for it.
      retired.add(old);
      old.once('exit', () => retired.delete(old));
    },
    async stop() {
      await Promise.all([...retired, ...(child ? [child] : [])].map((c) => stopChild(c, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
