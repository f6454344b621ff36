import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { RevisionTrafficSample, WeightMap } from '../../../core/provider.js';
import { DeadMansSwitch } from './dead-mans-switch.js';
import { isAlive, processStartTime, startDetached, stopGroup } from '../processes.js';
import { RouterCore, type LocalSample } from './router-core.js';
import type { PeerLink } from './router-link.js';
import { type InstanceRecord, type InstanceStatus, type RouterState, newTestValue, readRouterState, writeRouterState } from '../router-state.js';
import { mergeSamples } from './traffic-stats.js';

/** How long the rest of a dead instance's process group gets to exit after SIGTERM. */
const ORPHAN_GRACE_MS = 2_000;

/** What the admin channel answers to GET /state. */
export interface RouterStatus {
  pid: number;
  startedAt: string;
  state: RouterState;
  /** In-flight requests (and open WebSocket connections) per instance, over both router processes. */
  inflight: Record<string, number>;
  totals: Record<string, { requests: number; errors: number }>;
  /** Pids of the router processes serving now. */
  pids: { primary: number; secondary?: number };
}

/** What the admin channel answers to GET /traffic: production counts, and test-route requests apart. */
export interface TrafficAnswer {
  samples: RevisionTrafficSample[];
  testRoute: RevisionTrafficSample[];
}

/** Raised by admin operations; the admin channel answers it with 409 and the message. */
class AdminRejection extends Error {}

/** How long the primary waits for the secondary to take a state change or answer its counts. */
const PEER_TIMEOUT_MS = 2_000;

/**
 * The primary local router process: owns the state (router.json), the admin channel on a unix
 * socket (mode 0600, in a 0700 directory) that only the local user can reach, starts instances,
 * runs the dead-man's switch, and proxies like the secondary. Every change is written to
 * router.json and pushed to the secondary before the admin call answers. Tests may run it
 * in-process, alone.
 */
export class RouterServer {
  private state!: RouterState;
  private core!: RouterCore;
  private admin?: Server;
  private peer?: PeerLink;
  private peerInflight: Record<string, number> = {};
  private persistChain: Promise<void> = Promise.resolve();
  private readonly startedAt = new Date().toISOString();
  private stopping?: Promise<void>;
  private deadMan?: DeadMansSwitch;
  /** Resolves when the router was asked to shut down through the admin channel. */
  readonly shutdownRequested: Promise<void>;
  private requestShutdown!: () => void;

  constructor(private readonly statePath: string) {
    this.shutdownRequested = new Promise((r) => (this.requestShutdown = r));
  }

  /** The listening socket, to hand to the secondary. */
  get listening(): NetServer {
    return this.core.front;
  }

  /**
   * Load the state file, listen on the service port (or serve the socket handed over by the
   * secondary after a restart) and on the admin socket. Throws EADDRINUSE etc. as is.
   */
  async start(handed?: NetServer): Promise<void> {
    const state = await readRouterState(this.statePath);
    if (!state) throw new Error(`router state file ${this.statePath} not found`);
    this.state = state;
    this.core = new RouterCore(state);
    await this.core.listen(handed ?? { port: state.port, host: state.host });

    await rm(state.socketPath, { force: true });
    this.admin = createServer((req, res) => void this.handleAdmin(req, res));
    const oldMask = process.umask(0o077);
    try {
      await listenAdmin(this.admin, state.socketPath);
    } catch (e) {
      this.core.front.close();
      throw e;
    } finally {
      process.umask(oldMask);
    }
    await chmod(state.socketPath, 0o600);

    this.state.routerPid = process.pid;
    this.state.routerStartTime = processStartTime(process.pid);
    await this.persist();
    this.deadMan = new DeadMansSwitch(
      () => this.state,
      (weights, event) => this.change(() => {
        this.applyWeights(weights);
        this.state.testRoute = null;
        this.state.deadMansSwitchFired = event;
      }),
    );
    this.deadMan.start();
  }

  /** Link to the secondary; it gets the current state at once. */
  async attachPeer(peer: PeerLink, peerStartTime?: string): Promise<void> {
    this.peer = peer;
    this.peerInflight = {};
    this.state.secondaryPid = peer.peerPid;
    this.state.secondaryStartTime = peerStartTime;
    await this.persist();
    await this.pushState();
  }

  /** Ask the secondary to stop (in-flight requests finish there too). */
  async stopPeer(): Promise<void> {
    if (this.peer?.connected) await this.peer.request('stop', undefined, 3_000).catch(() => undefined);
  }

  /** Answers the secondary's requests (none today: it only answers the primary). */
  onPeerRequest(op: string): unknown {
    throw new Error(`unknown request "${op}"`);
  }

  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  stop(graceMs = 5_000): Promise<void> {
    this.stopping ??= (async () => {
      this.deadMan?.stop();
      await this.core?.close(graceMs);
      if (this.admin) {
        const adminClosed = new Promise<void>((r) => this.admin!.close(() => r()));
        this.admin.closeAllConnections();
        await adminClosed;
      }
      await this.persistChain.catch(() => undefined);
      if (this.state) await rm(this.state.socketPath, { force: true });
    })();
    return this.stopping;
  }

  // ---------------------------------------------------------------- admin

  private async handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://admin');
      const body = req.method === 'GET' ? undefined : await readJson(req);
      const out = await this.admin1(req.method ?? 'GET', url, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out ?? {}));
    } catch (e) {
      const status = e instanceof AdminRejection ? 409 : 500;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
    }
  }

  private async admin1(method: string, url: URL, body: any): Promise<unknown> {
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /state':
        return this.status();
      case 'GET /traffic': {
        const ids = (url.searchParams.get('revisions') ?? '').split(',').filter(Boolean);
        const windowMs = Number(url.searchParams.get('windowMs') ?? 60_000);
        return this.traffic(ids, windowMs);
      }
      case 'PUT /weights':
        await this.change(() => {
          this.applyWeights(body.weights as WeightMap);
        });
        return { weights: this.state.weights };
      case 'PUT /test-route': {
        const rev = body.revision as string | null;
        if (rev !== null && !this.state.revisions[rev]) throw new AdminRejection(`unknown revision "${rev}"`);
        await this.change(() => {
          this.state.testRoute = rev;
          // A secret value is new for each route set (each deploy): a past one opens nothing.
          if (rev !== null && this.state.testValueSecret) this.state.testValue = newTestValue();
        });
        return { testRoute: rev };
      }
      case 'PUT /config':
        await this.change(() => {
          this.state.testHeader = String(body.testHeader ?? this.state.testHeader);
          if (body.testValue === null) {
            // No value configured: a secret one, drawn now if the value was a configured one.
            if (!this.state.testValueSecret) this.state.testValue = newTestValue();
            this.state.testValueSecret = true;
          } else if (body.testValue !== undefined) {
            this.state.testValue = String(body.testValue);
            this.state.testValueSecret = false;
          }
          if (body.limits) this.state.limits = body.limits;
          if (body.deadMansSwitch !== undefined) this.state.deadMansSwitch = body.deadMansSwitch ?? undefined;
          if (body.sticky !== undefined) this.state.sticky = body.sticky ?? undefined;
        });
        return {};
      case 'PUT /revision': {
        const id = String(body.spec?.id ?? '');
        if (!id) throw new AdminRejection('revision spec needs an id');
        await this.change(() => {
          // A new deploy's revision: the last dead-man's switch event is history now.
          if (!this.state.revisions[id] && this.state.deadMansSwitchFired) delete this.state.deadMansSwitchFired;
          this.state.revisions[id] = { spec: body.spec, desired: Number(body.desired ?? 0) };
        });
        return {};
      }
      case 'DELETE /revision': {
        const id = String(body.id);
        if ((this.state.weights[id] ?? 0) > 0) throw new AdminRejection(`revision "${id}" still has ${this.state.weights[id]}% of traffic`);
        await this.change(() => {
          this.state.instances = this.state.instances.filter((i) => i.revision !== id);
          delete this.state.revisions[id];
          delete this.state.weights[id];
          if (this.state.testRoute === id) this.state.testRoute = null;
        });
        return {};
      }
      case 'POST /instance': {
        const rec = body.instance as InstanceRecord;
        if (this.state.instances.some((i) => i.id === rec.id)) throw new AdminRejection(`instance ${rec.id} already registered`);
        if (body.launch) await this.launch(rec, body.launch);
        await this.change(() => {
          this.state.instances.push(rec);
        });
        return { instance: rec };
      }
      case 'PUT /instance-status': {
        const rec = this.state.instances.find((i) => i.id === String(body.id));
        if (!rec) throw new AdminRejection(`unknown instance ${body.id}`);
        await this.change(() => {
          rec.status = body.status as InstanceStatus;
        });
        return {};
      }
      case 'DELETE /instance':
        await this.change(() => {
          this.state.instances = this.state.instances.filter((r) => r.id !== String(body.id));
        });
        return {};
      case 'POST /shutdown':
        setImmediate(() => this.requestShutdown());
        return {};
      default:
        throw new AdminRejection(`no admin route ${route}`);
    }
  }

  /**
   * The router starts instances itself: starting and recording happen in this long-lived
   * process, so a zdd command killed at any moment cannot leave an unrecorded process.
   */
  private async launch(rec: InstanceRecord, launch: { command: string | string[]; cwd: string; env: Record<string, string> }): Promise<void> {
    let proc;
    try {
      proc = await startDetached(launch.command, { cwd: launch.cwd, env: launch.env, logFile: rec.logFile });
    } catch (e) {
      throw new AdminRejection(`could not start ${JSON.stringify(launch.command)}: ${(e as Error).message}`);
    }
    rec.pid = proc.pid;
    rec.startTime = processStartTime(proc.pid);
    void proc.exited.then((info) => {
      const exit = { code: info.code, signal: info.signal, ...(info.spawnError ? { spawnError: info.spawnError } : {}) };
      // On the record itself too: a program that fails at once can exit before its record joins the state.
      rec.exit = exit;
      const now = this.state.instances.find((i) => i.id === rec.id);
      if (!now || now.pid !== proc.pid) return;
      now.exit = exit;
      void this.persist().catch(() => undefined);
      // An instance is its whole process group: when its first process dies (a crash, an OOM kill of
      // the shell), children it started must not live on unsupervised, serving nothing zdd records.
      if (isAlive(-proc.pid)) void stopGroup(proc.pid, ORPHAN_GRACE_MS).catch(() => undefined);
    });
  }

  /** Apply a change to the state, then write it and hand it to both proxies before answering. */
  private async change(fn: () => void): Promise<void> {
    fn();
    this.core.applyState(this.state);
    await this.persist();
    await this.pushState();
  }

  private async pushState(): Promise<void> {
    if (!this.peer?.connected) return;
    try {
      await this.peer.request('state', this.state, PEER_TIMEOUT_MS);
    } catch (e) {
      // A stopped secondary is slow, not gone; it takes the state when it runs again (queued).
      console.error(`zdd router: ${(e as Error).message}`);
    }
  }

  private applyWeights(weights: WeightMap): void {
    if (!weights || typeof weights !== 'object') throw new AdminRejection('weights must be an object of revision → percent');
    let sum = 0;
    for (const [id, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 100) throw new AdminRejection(`weight of "${id}" must be a whole number 0–100, got ${w}`);
      if (w > 0 && !this.state.revisions[id]) throw new AdminRejection(`revision "${id}" is not running here`);
      // Promise 1: no production traffic to a revision none of whose instances passed health checks.
      if (w > 0 && !this.state.instances.some((i) => i.revision === id && i.status === 'ready')) throw new AdminRejection(`revision "${id}" has no healthy instance`);
      sum += w;
    }
    if (sum !== 100 && sum !== 0) throw new AdminRejection(`weights must add up to 100, got ${sum}`);
    this.state.weights = { ...weights };
  }

  private async status(): Promise<RouterStatus> {
    const inflight = this.core.inflight();
    if (this.peer?.connected) {
      try {
        this.peerInflight = await this.peer.request<Record<string, number>>('inflight', undefined, PEER_TIMEOUT_MS);
      } catch {
        // keep the last counts seen: a stopped secondary serves nothing new meanwhile
      }
      for (const [id, n] of Object.entries(this.peerInflight)) if (id in inflight) inflight[id] += n;
    }
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      state: this.state,
      inflight,
      totals: this.core.totals(),
      pids: { primary: process.pid, ...(this.peer?.connected ? { secondary: this.peer.peerPid } : {}) },
    };
  }

  private async traffic(ids: string[], windowMs: number): Promise<TrafficAnswer> {
    const parts: LocalSample[] = [this.core.sample(ids, windowMs)];
    if (this.peer?.connected) {
      try {
        parts.push(await this.peer.request<LocalSample>('sample', { ids, windowMs }, PEER_TIMEOUT_MS));
      } catch (e) {
        console.error(`zdd router: counts of the secondary are missing from this sample: ${(e as Error).message}`);
      }
    }
    return { samples: mergeSamples(parts.map((p) => p.production)), testRoute: mergeSamples(parts.map((p) => p.testRoute)) };
  }

  private persist(): Promise<void> {
    const snapshot = structuredClone(this.state);
    // One failed write (disk full) must fail its own admin call, not every later one.
    const next = this.persistChain.catch(() => undefined).then(() => writeRouterState(this.statePath, snapshot));
    this.persistChain = next;
    return next;
  }
}

function listenAdmin(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    server.listen(path);
  });
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}
