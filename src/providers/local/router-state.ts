import { randomBytes } from 'node:crypto';
import type { RevisionSpec, WeightMap } from '../../core/provider.js';
import type { Watchdog } from '../../core/state.js';
import { readJsonFile, writeFileAtomic } from '../../state/atomic-file.js';

/**
 * The router's dead-man's switch (router/dead-mans-switch.ts) as a watchdog: how the lock it fences,
 * `zdd status` and the engine name it. The local provider declares it in its capabilities.
 */
export const DEAD_MANS_SWITCH: Watchdog = { name: "the local router's dead-man's switch", action: 'puts traffic back on stable' };

/** starting: launched, not yet healthy (no traffic). ready: takes traffic. draining: no new requests, finishing in-flight ones. */
export type InstanceStatus = 'starting' | 'ready' | 'draining';

/**
 * Request header of zdd's observed-split probe: a request carrying the router's test-route value in
 * it is routed by weight like any other and left out of the production statistics.
 */
export const PROBE_HEADER = 'x-zdd-probe';

/** A cookie that keeps a client on the revision that first answered it, while that revision has weight. */
export interface StickySessions {
  cookie: string;
  /** Max-Age of the cookie in seconds; absent: a session cookie. */
  maxAgeS?: number;
}

/** One process running one revision. */
export interface InstanceRecord {
  /** `<revision>#<n>` */
  id: string;
  revision: string;
  port: number;
  /** Pid of the process, which leads its own process group. */
  pid: number;
  /** Start time of the process (/proc ticks), so a reused pid is never taken for it. */
  startTime?: string;
  status: InstanceStatus;
  /** Set by the router when the process exited (it is the parent of the instances it started). */
  exit?: { code: number | null; signal: string | null; spawnError?: string };
  logFile: string;
  startedAt: string;
}

export interface RevisionRecord {
  spec: RevisionSpec;
  /** Instances asked for. */
  desired: number;
}

/**
 * Everything the router needs to restart exactly where it was: written by the provider once before
 * the first start, then only by the router, atomically, after every change.
 */
export interface RouterState {
  version: 1;
  service: string;
  host: string;
  port: number;
  socketPath: string;
  /** Pid of the primary router process (state, admin channel, instances; also proxies). */
  routerPid?: number;
  routerStartTime?: string;
  /** Pid of the secondary router process (proxies; restarts the primary if it dies, and is restarted by it). */
  secondaryPid?: number;
  secondaryStartTime?: string;
  /** Timeouts and limits of the proxy (defaults: DEFAULT_LIMITS). */
  limits?: Partial<RouterLimits>;
  /** When the dead-man's switch watches the lock, and where the lock lives. */
  deadMansSwitch?: DeadMansSwitchConfig;
  /** The last time the dead-man's switch put traffic back on stable, and why. */
  deadMansSwitchFired?: DeadMansSwitchEvent;
  testHeader: string;
  testValue: string;
  /** Sticky sessions by cookie (absent: off). */
  sticky?: StickySessions;
  /** testValue is a secret the router draws anew each time the test route is set (no value configured). */
  testValueSecret?: boolean;
  /** Revision that requests with the test header go to. */
  testRoute: string | null;
  /** Weights as last written (revisions not listed have 0). */
  weights: WeightMap;
  revisions: Record<string, RevisionRecord>;
  instances: InstanceRecord[];
  updatedAt: string;
}

/** Timeouts (ms) and limits of the proxy. */
export interface RouterLimits {
  /** Time a client has to send a request's headers. */
  clientHeadersTimeoutMs: number;
  /** Time an idle keep-alive client connection is kept open. */
  clientIdleTimeoutMs: number;
  /** Time to connect to an instance (then the next instance is tried; at the end 504). */
  upstreamConnectTimeoutMs: number;
  /** Time an instance has to answer with response headers (then 504, an error of its revision). */
  upstreamHeadersTimeoutMs: number;
  /** Client connections held at once by each proxying process; at the limit the longest idle one is closed, or the new one answered 503. */
  maxConnections: number;
  /** Connections each proxying process opens to one instance at most; more requests wait for one (within upstreamHeadersTimeoutMs). */
  upstreamConnectionsPerInstance: number;
}

export const DEFAULT_LIMITS: RouterLimits = {
  clientHeadersTimeoutMs: 10_000,
  clientIdleTimeoutMs: 60_000,
  upstreamConnectTimeoutMs: 2_000,
  upstreamHeadersTimeoutMs: 60_000,
  maxConnections: 4_096,
  upstreamConnectionsPerInstance: 256,
};

export interface DeadMansSwitchConfig {
  /** Directory of the file state store (`<dir>/<service>/lock.json`, `latest.json`). */
  stateDir: string;
  /** Strategies whose deploys it guards. */
  strategies: string[];
  intervalMs: number;
}

export interface DeadMansSwitchEvent {
  at: string;
  deploymentId: string;
  reason: string;
  weightsBefore: WeightMap;
  restored: string;
}

/** A test-route value nobody can guess: 128 random bits. */
export function newTestValue(): string {
  return randomBytes(16).toString('hex');
}

export async function readRouterState(path: string): Promise<RouterState | null> {
  const state = await readJsonFile<RouterState>(path);
  if (state === null) return null;
  if (state.version !== 1 || typeof state.port !== 'number' || !Array.isArray(state.instances)) {
    throw new Error(`${path} is not a zdd local router state file (version 1)`);
  }
  return state;
}

export async function writeRouterState(path: string, state: RouterState): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`, 0o600);
}
