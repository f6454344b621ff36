import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { urlHost } from '../processes.js';
import type { InstanceRecord, RouterLimits, RouterState } from '../router-state.js';
import { RawPool } from './raw-upstream.js';
import { WeightedPicker } from './weighted-picker.js';

/** An instance that refused a connection is skipped for this long (it is probably gone). */
const EJECT_MS = 2_000;

export interface LiveInstance {
  record: InstanceRecord;
  /** undici, for requests with a body. */
  pool: Pool;
  /** Plain keep-alive sockets, for requests without a body (the hot path). */
  raw: RawPool;
  connectTimeoutMs: number;
  /** Requests in flight plus open upgraded (WebSocket) connections. */
  inflight: number;
  ejectedUntil: number;
  tunnels: Set<Socket>;
}

/**
 * The instances one router process proxies to, kept in step with the router state: connection
 * pools per instance, ready instances per revision, the weighted pick, ejection of an instance that
 * refused a connection, and draining (a draining instance's pools close after its last request).
 */
export class UpstreamInstances {
  private state!: RouterState;
  private limits!: RouterLimits;
  private readonly instances = new Map<string, LiveInstance>();
  /** Ready instances per revision, rebuilt on every state change (not per request). */
  private ready = new Map<string, LiveInstance[]>();
  private readonly picker = new WeightedPicker();
  private readonly rrIndex = new Map<string, number>();

  /** Take a new state's weights, test route and instances (added, updated, draining, removed). */
  apply(next: RouterState, limits: RouterLimits): void {
    // Stryker disable next-line StringLiteral: the first state has no picker history to keep; any string that is not its weights resets it
    const prevWeights = this.state ? JSON.stringify(this.state.weights) : '';
    this.state = next;
    this.limits = limits;
    const seen = new Set<string>();
    for (const rec of next.instances) {
      seen.add(rec.id);
      const live = this.instances.get(rec.id);
      if (!live) {
        this.addLive(rec);
        continue;
      }
      live.record = rec;
      if (live.connectTimeoutMs !== this.limits.upstreamConnectTimeoutMs && live.inflight === 0) {
        void live.pool.close().catch(() => undefined);
        live.pool = this.newPool(rec);
        live.connectTimeoutMs = this.limits.upstreamConnectTimeoutMs;
      }
      if (rec.status === 'draining' && live.inflight === 0) this.closePools(live);
    }
    for (const id of [...this.instances.keys()]) if (!seen.has(id)) this.removeInstance(id);
    this.ready = new Map();
    for (const live of this.instances.values()) {
      if (live.record.status !== 'ready') continue;
      const list = this.ready.get(live.record.revision);
      if (list) list.push(live);
      else this.ready.set(live.record.revision, [live]);
    }
    if (JSON.stringify(next.weights) !== prevWeights) this.picker.reset();
  }

  /** In-flight requests (plus open WebSocket connections) per instance. */
  inflight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, i] of this.instances) out[id] = i.inflight;
    return out;
  }

  /** In-flight requests (plus open WebSocket connections) over every instance. */
  totalInflight(): number {
    let n = 0;
    for (const i of this.instances.values()) n += i.inflight;
    return n;
  }

  /**
   * Choose an instance: the test route's revision for test requests, otherwise a revision by
   * smooth weighted round robin; then round robin over that revision's ready instances.
   * On a retry, prefer another instance of `sameRevision`, then any other revision with weight.
   * A sticky client's `pinned` revision is kept while it has weight (and a usable instance); its
   * requests do not move the weighted pick, so new clients still follow the weights.
   */
  pick(tested: boolean, exclude: Set<string>, sameRevision?: string, pinned?: string): LiveInstance | undefined {
    const now = Date.now();
    const usable = (i: LiveInstance) => !exclude.has(i.record.id) && i.ejectedUntil <= now;
    if (tested) return this.roundRobin(this.state.testRoute!, usable);
    if (sameRevision) {
      const again = this.roundRobin(sameRevision, usable);
      if (again) return again;
    }
    if (pinned && (this.state.weights[pinned] ?? 0) > 0) {
      const kept = this.roundRobin(pinned, usable);
      if (kept) return kept;
    }
    const rev = this.picker.pick(this.state.weights, (id) => this.hasUsable(id, usable));
    if (rev) return this.roundRobin(rev, usable);
    // Every instance was ejected recently: try them anyway rather than refuse outright.
    const lenient = (i: LiveInstance) => !exclude.has(i.record.id);
    const fallback = this.picker.pick(this.state.weights, (id) => this.hasUsable(id, lenient));
    return fallback ? this.roundRobin(fallback, lenient) : undefined;
  }

  /** A request (or tunnel) to `inst` ended; a draining instance's pools close after its last one. */
  release(inst: LiveInstance): void {
    inst.inflight--;
    if (inst.inflight === 0 && inst.record.status === 'draining') this.closePools(inst);
  }

  /** `inst` refused a connection: skip it for a while. */
  eject(inst: LiveInstance): void {
    inst.ejectedUntil = Date.now() + EJECT_MS;
  }

  /** Close every open WebSocket tunnel (shutting down). */
  destroyTunnels(): void {
    for (const i of this.instances.values()) for (const t of i.tunnels) t.destroy();
  }

  /** Close every connection to the instances (shutting down, after the front closed). */
  async close(): Promise<void> {
    for (const i of this.instances.values()) i.raw.close();
    await Promise.all([...this.instances.values()].map((i) => i.pool.destroy().catch(() => undefined)));
  }

  private hasUsable(revision: string, ok: (i: LiveInstance) => boolean): boolean {
    const list = this.ready.get(revision);
    if (!list) return false;
    for (const i of list) if (ok(i)) return true;
    return false;
  }

  private roundRobin(revision: string, ok: (i: LiveInstance) => boolean): LiveInstance | undefined {
    const list = this.ready.get(revision);
    if (!list) return undefined;
    const n = (this.rrIndex.get(revision) ?? 0) + 1;
    this.rrIndex.set(revision, n);
    for (let k = 0; k < list.length; k++) {
      const i = list[(n + k) % list.length];
      if (ok(i)) return i;
    }
    return undefined;
  }

  private closePools(inst: LiveInstance): void {
    inst.pool.close().catch(() => undefined);
    inst.raw.close();
  }

  private newPool(rec: InstanceRecord): Pool {
    return new Pool(`http://${urlHost(this.state.host)}:${rec.port}`, {
      pipelining: 1,
      connections: this.limits.upstreamConnectionsPerInstance,
      keepAliveTimeout: 4_000,
      connectTimeout: this.limits.upstreamConnectTimeoutMs,
      headersTimeout: this.limits.upstreamHeadersTimeoutMs,
      bodyTimeout: 0,
    });
  }

  private addLive(rec: InstanceRecord): void {
    const raw = new RawPool(
      this.state.host,
      rec.port,
      () => this.limits.upstreamConnectTimeoutMs,
      () => this.limits.upstreamConnectionsPerInstance,
    );
    this.instances.set(rec.id, { record: rec, pool: this.newPool(rec), raw, connectTimeoutMs: this.limits.upstreamConnectTimeoutMs, inflight: 0, ejectedUntil: 0, tunnels: new Set() });
  }

  private removeInstance(id: string): void {
    const live = this.instances.get(id);
    if (!live) return;
    this.instances.delete(id);
    // close() lets in-flight requests finish, then closes the idle keep-alive connections. Upgraded
    // connections are closed now: the platform removes an instance only after its drain time.
    this.closePools(live);
    for (const t of live.tunnels) t.destroy();
  }
}
