import type { DeploymentRecord, HookPoint, PlanInput, ProviderCapabilities, Role, Step } from '../../src/index.js';

export const ALL_CAPABILITIES: ProviderCapabilities = { weightedTraffic: true, instantSwitch: true, testRoute: true, batches: true };
export const NO_TEST_ROUTE: ProviderCapabilities = { ...ALL_CAPABILITIES, testRoute: false };

/** A plan input with stable v1 (`stable` instances, or null for a first deploy) and candidate v2. */
export function planInput<T = unknown>(args: {
  stable?: number | null;
  replicas?: number;
  options?: T;
  hooks?: HookPoint[];
  gates?: string[];
  capabilities?: ProviderCapabilities;
}): PlanInput<T> {
  const stable = args.stable === undefined ? 3 : args.stable;
  return {
    service: 'web',
    stable: stable === null ? null : { revision: { id: 'v1' }, replicas: stable },
    candidate: { id: 'v2' },
    replicas: args.replicas ?? stable ?? 3,
    options: args.options as T,
    capabilities: args.capabilities ?? ALL_CAPABILITIES,
    hooks: args.hooks ?? [],
    gates: args.gates ?? [],
    drainMs: 5000,
  };
}

/** Steps written short, compared as data. */
export const provision = (replicas: number, role: Role = 'candidate'): Step => ({ kind: 'provision', role, replicas });
export const scale = (role: Role, replicas: number): Step => ({ kind: 'scale', role, replicas });
export const testRoute = (role: Role | null): Step => ({ kind: 'testRoute', role });
export const shift = (candidate: number): Step => ({ kind: 'shiftTraffic', weights: { stable: 100 - candidate, candidate } });
export const gate = (name: string): Step => ({ kind: 'gate', gate: name });
export const bake = (durationMs: number, analysis?: string[]): Step => (analysis ? { kind: 'pause', durationMs, analysis } : { kind: 'pause', durationMs });
export const manual: Step = { kind: 'pause' };
export const hook = (point: HookPoint): Step => ({ kind: 'hook', hook: point });
export const retire = (role: Role, afterMs?: number): Step => (afterMs ? { kind: 'retire', role, afterMs } : { kind: 'retire', role });

/** A deployment record as the engine keeps it, for rollback planning. */
export function record(args: {
  plan: Step[];
  stepIndex: number;
  stable: boolean;
  weights: DeploymentRecord['weights'];
  replicas: DeploymentRecord['replicas'];
  testRoute: Role | null;
  healthy: Role[];
  stableReplicasBefore: number;
  inFlight?: boolean;
}): DeploymentRecord {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    version: 1,
    id: 'd1',
    service: 'web',
    strategy: 'test',
    status: 'running',
    stable: args.stable ? { id: 'v1' } : null,
    candidate: { id: 'v2' },
    plan: args.plan,
    stepIndex: args.stepIndex,
    inFlight: args.inFlight ? { index: args.stepIndex, phase: 'deploy', startedAt: at } : undefined,
    weights: { ...args.weights },
    replicas: { ...args.replicas },
    stableReplicasBefore: args.stableReplicasBefore,
    testRoute: args.testRoute,
    healthy: [...args.healthy],
    startedAt: at,
    updatedAt: at,
    by: { who: 'test', host: 'localhost', pid: 1, since: at },
    verdicts: [],
  };
}

/** Deterministic pseudo-random numbers (mulberry32): generated inputs are the same on every run. */
export function seededRandom(seed: number): { int(min: number, max: number): number; pick<T>(items: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
  };
}
