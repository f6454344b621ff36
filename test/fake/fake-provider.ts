import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Provider, ProviderContext, ProviderSnapshot, RevisionEndpoints, RevisionSpec, WeightMap } from '../../src/index.js';
// From the errors module itself, not the package index: the CLI loads this file through jiti for
// each command of a test project, and the index would have it transpile and run all of src again
// (~0.25 s of CPU per spawn).
import { CheckFailedError, ProviderError } from '../../src/core/errors.js';

/**
 * A test fake standing in for a real platform and router, for engine and CLI tests where the
 * behaviour under test is zdd's sequencing, not a real proxy (the local and AWS providers are
 * tested for real elsewhere). Its state lives in a JSON file, so a killed zdd process leaves
 * evidence, and failures are scripted through the options or a "fail" file tests write mid-run.
 */
export interface FakeProviderOptions {
  /** Where the fake keeps its state (required: the CLI runs in another process). */
  stateFile: string;
  /** Scripted failures. */
  failures?: FakeFailure[];
  /** Revisions that never become healthy. */
  unhealthy?: string[];
  /** Milliseconds (real time) that each provision takes: lets signal tests land mid-step. */
  provisionDelayMs?: number;
  /** When this file exists, every provider call fails (tests create it at a chosen step). */
  failFile?: string;
  capabilities?: Partial<Provider['capabilities']>;
}

export interface FakeFailure {
  method: FakeMethod;
  /** Only calls about this revision. */
  revision?: string;
  /** Fail only the nth matching call (1-based); default every matching call. */
  nth?: number;
  message?: string;
  /** getWeights answers something other than what was set. */
  mismatch?: boolean;
}

export type FakeMethod = 'preflight' | 'provision' | 'scale' | 'waitHealthy' | 'retire' | 'setWeights' | 'getWeights' | 'setTestRoute' | 'snapshot';

export interface FakeState {
  revisions: Record<string, { revision: RevisionSpec; desired: number; running: boolean }>;
  weights: WeightMap;
  testRoute: string | null;
  calls: { method: FakeMethod; args: unknown[] }[];
}

export function readFakeState(file: string): FakeState {
  if (!existsSync(file)) return { revisions: {}, weights: {}, testRoute: null, calls: [] };
  return JSON.parse(readFileSync(file, 'utf8')) as FakeState;
}

export function createFakeProvider(options: FakeProviderOptions, _ctx?: ProviderContext): Provider {
  const counts: Partial<Record<FakeMethod, number>> = {};
  const load = () => readFakeState(options.stateFile);
  const store = (s: FakeState) => {
    mkdirSync(dirname(options.stateFile), { recursive: true });
    const tmp = `${options.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(s, null, 2));
    renameSync(tmp, options.stateFile);
  };
  const call = (method: FakeMethod, args: unknown[], revision?: string): FakeState => {
    const s = load();
    s.calls.push({ method, args });
    store(s);
    counts[method] = (counts[method] ?? 0) + 1;
    if (options.failFile && existsSync(options.failFile)) {
      throw new ProviderError(`fake ${method} failed (fail file present)`, { changed: true });
    }
    for (const f of options.failures ?? []) {
      if (f.method !== method || f.mismatch) continue;
      if (f.revision && f.revision !== revision) continue;
      if (f.nth !== undefined && f.nth !== counts[method]) continue;
      throw new ProviderError(f.message ?? `fake ${method} failed`, { changed: method !== 'preflight' });
    }
    return s;
  };

  const provider: Provider = {
    name: 'fake',
    capabilities: { weightedTraffic: true, instantSwitch: true, testRoute: true, batches: true, ...options.capabilities },
    async preflight() {
      call('preflight', []);
    },
    async snapshot(): Promise<ProviderSnapshot> {
      const s = call('snapshot', []);
      return {
        revisions: Object.values(s.revisions).filter((r) => r.running).map((r) => ({ revision: r.revision, desired: r.desired, healthy: r.desired })),
        weights: s.weights,
        testRoute: s.testRoute,
      };
    },
    platform: {
      async provision(revision, replicas) {
        if (options.provisionDelayMs) await new Promise((r) => setTimeout(r, options.provisionDelayMs));
        const s = call('provision', [revision.id, replicas], revision.id);
        s.revisions[revision.id] = { revision, desired: replicas, running: true };
        store(s);
      },
      async scale(id, replicas) {
        const s = call('scale', [id, replicas], id);
        const r = s.revisions[id];
        if (!r) throw new ProviderError(`fake: no revision ${id}`);
        r.desired = replicas;
        store(s);
      },
      async waitHealthy(id) {
        call('waitHealthy', [id], id);
        if (options.unhealthy?.includes(id)) throw new CheckFailedError(`fake: revision ${id} never became healthy`);
      },
      async retire(id) {
        const s = call('retire', [id], id);
        if ((s.weights[id] ?? 0) > 0) throw new Error(`fake: retire(${id}) while it has ${s.weights[id]}% — the engine broke promise 8`);
        const r = s.revisions[id];
        if (r) {
          r.running = false;
          r.desired = 0;
        }
        store(s);
      },
      async endpoints(id): Promise<RevisionEndpoints> {
        return { serviceUrl: 'http://127.0.0.1:9/', instanceUrls: [`http://127.0.0.1:9/${id}`] };
      },
    },
    router: {
      async setWeights(weights) {
        const s = call('setWeights', [weights]);
        for (const [id, w] of Object.entries(weights)) {
          if (w > 0 && !s.revisions[id]?.running) throw new Error(`fake: weight ${w} for ${id}, which is not running — the engine broke promise 1`);
        }
        s.weights = Object.fromEntries(Object.entries(weights).filter(([, w]) => w > 0));
        store(s);
      },
      async getWeights() {
        const s = call('getWeights', []);
        if ((options.failures ?? []).some((f) => f.method === 'getWeights' && f.mismatch)) {
          return Object.fromEntries(Object.entries(s.weights).map(([id, w]) => [id, Math.max(0, w - 1)]));
        }
        return s.weights;
      },
      async setTestRoute(id) {
        const s = call('setTestRoute', [id], id ?? undefined);
        s.testRoute = id;
        store(s);
      },
    },
  };
  return provider;
}

/** The factory a config hands to `provider: { type: 'custom', create: fakeProviderFactory, options } }`. */
export const fakeProviderFactory = (options: Record<string, unknown>, ctx: ProviderContext): Provider =>
  createFakeProvider(options as unknown as FakeProviderOptions, ctx);
