/**
 * Entry of the local router processes: `node router-main.js --state <router.json> [--role primary|secondary]`.
 *
 * Two processes serve the same listening socket (the file descriptor is handed over their IPC
 * channel), so the kernel keeps accepting connections while either of them runs:
 * - the primary (started detached by the local provider) owns router.json, the admin socket and
 *   the instances, and proxies;
 * - the secondary proxies with the state the primary pushes to it.
 * Each watches the other through their IPC channel and starts a new one when it is gone (a child
 * that exited, a parent whose channel closed), handing it the socket: no single crash refuses a
 * connection. A restarted primary loads router.json, so weights and test route are as recorded.
 * The first primary reports readiness (or why it could not listen) to the zdd command that started it.
 */
import type { ChildProcess } from 'node:child_process';
import type { Server as NetServer } from 'node:net';
import { processStartTime } from '../processes.js';
import { RouterCore } from './router-core.js';
import { PeerLink, receiveListening, reportToParent, spawnPeer, type LinkRole } from './router-link.js';
import { RouterServer } from './router-server.js';
import { readRouterState, type RouterState } from '../router-state.js';

/** Wait before starting a new peer again after a failed start (doubles up to 10 s). */
const FIRST_BACKOFF_MS = 250;

let stopping = false;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function log(msg: string): void {
  console.error(`${new Date().toISOString()} zdd router ${arg('--role') ?? 'primary'} ${process.pid}: ${msg}`);
}

/**
 * Keep a peer alive: when the link is lost, start a new one of `role` (handing it the socket)
 * and call `attach` with the new link; back off while starts fail.
 */
function supervise(link: PeerLink, role: LinkRole, statePath: string, listening: NetServer, onRequest: (op: string, body: any) => unknown, attach: (link: PeerLink, child: ChildProcess) => Promise<void>): void {
  void link.lost.then(async () => {
    let backoff = FIRST_BACKOFF_MS;
    while (!stopping) {
      log(`the ${role} router process (pid ${link.peerPid}) is gone; starting a new one`);
      try {
        const child = await spawnPeer(role, statePath, listening);
        if (stopping) {
          child.kill('SIGTERM');
          return;
        }
        const next = new PeerLink(child, onRequest, child.pid!);
        await attach(next, child);
        log(`the new ${role} router process serves (pid ${child.pid})`);
        supervise(next, role, statePath, listening, onRequest, attach);
        return;
      } catch (e) {
        log(`${(e as Error).message}; trying again in ${backoff}ms`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(10_000, backoff * 2);
      }
    }
  });
}

async function primary(statePath: string, adopted: boolean): Promise<void> {
  const server = new RouterServer(statePath);
  try {
    const handed = adopted ? await receiveListening() : undefined;
    await server.start(handed);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    log(`could not start: ${err.message}`);
    reportToParent({ ready: false, code: err.code, message: err.message });
    if (!adopted && process.connected) process.disconnect();
    process.exitCode = 1;
    await server.stop(0).catch(() => undefined);
    return;
  }
  const onRequest = (op: string) => server.onPeerRequest(op);
  const attach = (link: PeerLink, child?: ChildProcess) => server.attachPeer(link, processStartTime(child?.pid ?? link.peerPid));
  let link: PeerLink | undefined;
  if (adopted) {
    // Started by the secondary after the primary before us died: it is our parent. It listens
    // to us once we said we serve, and then takes the state.
    link = new PeerLink(process, onRequest, process.ppid);
    reportToParent({ ready: true });
    await attach(link);
  } else {
    try {
      const child = await spawnPeer('secondary', statePath, server.listening);
      link = new PeerLink(child, onRequest, child.pid!);
      await attach(link, child);
    } catch (e) {
      log(`${(e as Error).message}; serving alone until it can be started`);
      // The supervision loop starts it (with backoff) as if it had died.
      supervise({ lost: Promise.resolve(), peerPid: 0 } as PeerLink, 'secondary', statePath, server.listening, onRequest, attach);
    }
  }
  log(`serving ${statePath}${link ? ` with the secondary (pid ${link.peerPid})` : ''}`);
  if (!adopted) {
    reportToParent({ ready: true });
    if (process.connected) process.disconnect();
  }
  if (link) supervise(link, 'secondary', statePath, server.listening, onRequest, attach);

  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    await Promise.all([server.stopPeer(), server.stop()]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  void server.shutdownRequested.then(() => shutdown('admin shutdown'));
}

async function secondary(statePath: string): Promise<void> {
  let core: RouterCore | undefined;
  try {
    const listening = await receiveListening();
    const state: RouterState | null = await readRouterState(statePath);
    if (!state) throw new Error(`router state file ${statePath} not found`);
    core = new RouterCore(state);
    await core.listen(listening);
  } catch (e) {
    log(`could not start: ${(e as Error).message}`);
    reportToParent({ ready: false, message: (e as Error).message });
    process.exitCode = 1;
    return;
  }
  const c = core;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    await c.close(5_000);
    process.exit(0);
  };
  const onRequest = (op: string, body: any): unknown => {
    switch (op) {
      case 'state':
        c.applyState(body as RouterState);
        return {};
      case 'inflight':
        return c.inflight();
      case 'sample':
        return c.sample(body.ids, body.windowMs);
      case 'stop':
        setImmediate(() => void shutdown('asked by the primary'));
        return {};
      default:
        throw new Error(`unknown request "${op}"`);
    }
  };
  const link = new PeerLink(process, onRequest, process.ppid);
  reportToParent({ ready: true });
  log(`serving ${statePath} with the primary (pid ${process.ppid})`);
  // A new primary loads router.json and pushes its state here as soon as it is linked.
  supervise(link, 'primary', statePath, c.front, onRequest, async () => undefined);
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

const statePath = arg('--state');
if (!statePath) {
  console.error('usage: router-main --state <router.json> [--role primary|secondary]');
  process.exitCode = 2;
} else if (arg('--role') === 'secondary') {
  void secondary(statePath);
} else {
  // A primary started by the secondary has --role primary; the first one has no --role.
  void primary(statePath, arg('--role') === 'primary');
}
