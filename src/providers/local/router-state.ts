import type { RevisionSpec, WeightMap } from '../../core/provider.js';
import { readJsonFile, writeFileAtomic } from '../../state/atomic-file.js';

/** starting: launched, not yet healthy (no traffic). ready: takes traffic. draining: no new requests, finishing in-flight ones. */
export type InstanceStatus = 'starting' | 'ready' | 'draining';

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
  /** Pid of the router process last started. */
  routerPid?: number;
  routerStartTime?: string;
  testHeader: string;
  testValue: string;
  /** Revision that requests with the test header go to. */
  testRoute: string | null;
  /** Weights as last written (revisions not listed have 0). */
  weights: WeightMap;
  revisions: Record<string, RevisionRecord>;
  instances: InstanceRecord[];
  updatedAt: string;
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
