import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { RevisionTrafficSample } from '../../../core/provider.js';
import { DEFAULT_LIMITS, PROBE_HEADER, type RouterLimits, type RouterState } from '../router-state.js';
import { ClientConnections } from './client-connections.js';
import { forwardRequest } from './request-forwarding.js';
import { TrafficStats } from './traffic-stats.js';
import { UpstreamInstances } from './upstream-instances.js';
import { openTunnel } from './upgrade-tunnel.js';

/** Production and test-route outcomes of one process, per revision. */
export interface LocalSample {
  production: RevisionTrafficSample[];
  testRoute: RevisionTrafficSample[];
}

/**
 * The proxying part of the local router, the same in every router process: a node:http front on
 * the shared listening socket, and what the state says about routing (test route, sticky sessions,
 * limits) and counting (production apart from the test route). Its parts, one job each:
 * client-connections.ts (admission, one request at a time per connection), request-forwarding.ts
 * (HTTP to an instance and back), upgrade-tunnel.ts (WebSocket), upstream-instances.ts (pools,
 * weights, draining). It does no I/O of its own beyond proxying: state comes in through applyState().
 */
export class RouterCore {
  readonly front: Server;
  /** The state being served (read by the forwarding parts: host, test route). */
  state!: RouterState;
  limits: RouterLimits = DEFAULT_LIMITS;
  /** The test-route header, lower-cased. */
  testHeader = '';
  readonly upstreams = new UpstreamInstances();
  private readonly clients: ClientConnections;
  /** Sticky sessions: the cookie's name and the attributes it is set with. */
  private sticky?: { cookie: string; attributes: string };
  readonly stats = new TrafficStats();
  readonly testStats = new TrafficStats();
  private pruneTimer?: NodeJS.Timeout;

  constructor(state: RouterState) {
    // Header and request timeouts are checked every connectionsCheckingInterval (Node's default 30 s would stretch them).
    this.front = createServer({ requestTimeout: 300_000, connectionsCheckingInterval: 1_000 }, (req, res) => this.clients.handle(req, res));
    this.clients = new ClientConnections(this.front, () => this.limits.maxConnections, (req, res) => forwardRequest(this, req, res));
    this.front.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => openTunnel(this, req, socket, head));
    // Without this listener Node closes a CONNECT with no answer.
    this.front.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => openTunnel(this, req, socket, head));
    this.applyState(state);
    this.pruneTimer = setInterval(() => {
      this.stats.prune();
      this.testStats.prune();
    }, 60_000).unref();
  }

  /** Serve on a new listening socket, or on one handed over by another router process. */
  listen(where: { port: number; host: string } | NetServer): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.front.once('error', onError);
      this.front.once('listening', () => {
        this.front.off('error', onError);
        resolve();
      });
      if ('port' in where) this.front.listen(where.port, where.host);
      else this.front.listen(where);
    });
  }

  /** Take a new state: weights, test route, instances (added, updated, removed) and limits. */
  applyState(next: RouterState): void {
    this.state = next;
    this.limits = { ...DEFAULT_LIMITS, ...(next.limits ?? {}) };
    this.testHeader = next.testHeader.toLowerCase();
    this.sticky = next.sticky ? { cookie: next.sticky.cookie, attributes: `; Path=/; HttpOnly; SameSite=Lax${next.sticky.maxAgeS !== undefined ? `; Max-Age=${next.sticky.maxAgeS}` : ''}` } : undefined;
    this.front.headersTimeout = this.limits.clientHeadersTimeoutMs;
    this.front.keepAliveTimeout = this.limits.clientIdleTimeoutMs;
    this.upstreams.apply(next, this.limits);
  }

  /** In-flight requests (plus open WebSocket connections) per instance. */
  inflight(): Record<string, number> {
    return this.upstreams.inflight();
  }

  sample(revisions: string[], windowMs: number): LocalSample {
    return { production: this.stats.sample(revisions, windowMs), testRoute: this.testStats.sample(revisions, windowMs) };
  }

  totals(): Record<string, { requests: number; errors: number }> {
    return this.stats.totals();
  }

  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.pruneTimer);
    const closed = new Promise<void>((r) => this.front.close(() => r()));
    this.front.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.upstreams.totalInflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.clients.destroyAll();
    this.upstreams.destroyTunnels();
    await closed;
    await this.upstreams.close();
  }

  // ---------------------------------------------------------------- routing rules of the state

  /** Whether `req` carries the test-route header with its value (and a test route is set). */
  isTestRequest(req: IncomingMessage): boolean {
    if (!this.state.testRoute) return false;
    const v = req.headers[this.testHeader];
    return Array.isArray(v) ? v.includes(this.state.testValue) : v === this.state.testValue;
  }

  /** The revision a sticky client's cookie names (sticky sessions on), else undefined. */
  pinnedRevision(req: IncomingMessage): string | undefined {
    const header = this.sticky && req.headers.cookie;
    if (!header) return undefined;
    const prefix = `${this.sticky!.cookie}=`;
    for (const part of header.split(';')) {
      const p = part.trim();
      if (!p.startsWith(prefix)) continue;
      try {
        return decodeURIComponent(p.slice(prefix.length));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** What the router adds to every answer: the revision that served it, and a sticky client's cookie when it names another (or none). */
  answerHeaders(revision: string, pinned: string | undefined): string[] {
    if (!this.sticky || revision === pinned) return ['x-zdd-revision', revision];
    return ['x-zdd-revision', revision, 'set-cookie', `${this.sticky.cookie}=${encodeURIComponent(revision)}${this.sticky.attributes}`];
  }

  /** The 503 text when no instance can take a request. */
  noTarget(tested: boolean): string {
    return tested ? `zdd router: no healthy instance on the test route for service ${this.state.service}\n` : `zdd router: no revision of ${this.state.service} has traffic\n`;
  }

  /** Count one outcome: test-route requests apart, zdd's own probe in neither. */
  record(req: IncomingMessage, revision: string, tested: boolean, latencyMs: number, error: boolean): void {
    if (tested) return this.testStats.record(revision, latencyMs, error);
    // zdd's own observed-split probe (docs/observed-split.md): routed like any client's request, never
    // counted in the production statistics checks judge. It carries the router's test-route secret.
    if (req.headers[PROBE_HEADER] === this.state.testValue) return;
    this.stats.record(revision, latencyMs, error);
  }
}
