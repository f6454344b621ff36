import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/load-config.js';
import { FakeClock } from '../../src/core/clock.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import type { Provider } from '../../src/core/provider.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { Engine } from '../../src/engine/engine.js';
import type { FlagProvider } from '../../src/flags/flag-provider.js';
import { MemoryStateStore } from '../../src/state/memory-state-store.js';
import type { Step, Strategy } from '../../src/index.js';
import { BUILT_IN_STRATEGIES, FLAG_STRATEGIES, RECORD_STRATEGIES, restorePrevious, rollbackPlan } from '../../strategies/index.js';
import { createFakeProvider, readFakeState, type FakeProviderOptions } from '../fake/fake-provider.js';

export interface Harness {
  dir: string;
  failFile: string;
  /** The fake's state file (tests may seed it, e.g. with a revision already running). */
  stateFile: string;
  /** The provider the engine was given: a test may wrap one of its calls to hold it. */
  provider: Provider;
  engine: Engine;
  events: ZddEventWithTime[];
  bus: EventBus;
  store: MemoryStateStore;
  clock: FakeClock;
  controller: AbortController;
  fakeState(): ReturnType<typeof readFakeState>;
  latest(): Promise<DeploymentRecord | null>;
  /** Make every provider call, hook and check fail from now on (until `heal`). */
  breakEverything(): void;
  heal(): void;
  cleanup(): void;
}

/**
 * An engine wired to the memory state store (records and lock as the file store keeps them, without
 * a file and an fsync per checkpoint: src/state/memory-state-store.ts, held to the same lock contract
 * in test/state/lock-store.contract.test.ts), the fake provider and a fast fake clock. Gates and
 * hooks are real commands that fail while the "fail file" exists, so a test can break any step.
 */
export function createHarness(opts: { config?: Record<string, unknown>; fake?: Partial<FakeProviderOptions>; stable?: string | null; flags?: FlagProvider } = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-engine-'));
  const failFile = join(dir, 'FAIL');
  const probe = `test ! -f ${failFile}`;
  const stateFile = join(dir, 'fake.json');
  const config = validateConfig({
    service: 'web',
    provider: { type: 'custom', create: () => null },
    replicas: 2,
    drain: '1s',
    gates: {
      smoke: { checks: [{ type: 'command', run: probe }] },
      analysis: { checks: [{ type: 'command', run: probe, interval: '1s' }] },
    },
    hooks: { preDeploy: probe, postProvision: probe, preShift: probe, postShift: probe, postDeploy: probe, onRollback: probe },
    strategies: {
      canary: { steps: [{ weight: 20, pause: '10s' }, { weight: 50, pause: '10s' }, { weight: 100 }] },
      linear: { stepPercent: 50, interval: '10s' },
      'blue-green': { bake: '10s', keepPrevious: '0s' },
      rolling: { batchSize: 1, pause: '5s' },
    },
    ...opts.config,
  });
  const clock = new FakeClock(Date.now(), true);
  const store = new MemoryStateStore(clock);
  const provider = createFakeProvider({ stateFile, failFile, ...opts.fake });
  const stable = opts.stable === undefined ? 'v1' : opts.stable;
  if (stable) {
    writeFileSync(stateFile, JSON.stringify({ revisions: { [stable]: { revision: { id: stable }, desired: 2, running: true } }, weights: { [stable]: 100 }, testRoute: null, calls: [] }));
  }
  const bus = new EventBus(() => clock.now());
  const events: ZddEventWithTime[] = [];
  bus.on((e) => events.push(e));
  const controller = new AbortController();
  const engine = new Engine({
    config,
    configDir: dir,
    provider,
    store,
    clock,
    events: bus,
    strategy: (name) => {
      const s = config.strategies?.plugins?.[name] ?? BUILT_IN_STRATEGIES[name] ?? FLAG_STRATEGIES[name] ?? RECORD_STRATEGIES[name];
      if (!s) throw new Error(`no strategy ${name}`);
      return s;
    },
    restoreStrategy: restorePrevious,
    holder: { who: 'test', host: 'test-host', pid: process.pid, since: new Date().toISOString() },
    signal: controller.signal,
    flags: opts.flags,
  });
  return {
    dir,
    failFile,
    stateFile,
    provider,
    engine,
    events,
    bus,
    store,
    clock,
    controller,
    fakeState: () => readFakeState(stateFile),
    latest: () => store.records.latest('web'),
    breakEverything: () => writeFileSync(failFile, 'x'),
    heal: () => rmSync(failFile, { force: true }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A user's own strategy named "custom" that plans `steps` (and `rollback`, else the built-in way back). */
export function planStrategy(steps: Step[], rollback?: Step[]): Strategy {
  return {
    name: 'custom',
    description: 'a test plan',
    requires: [],
    plan: () => ({ strategy: 'custom', steps }),
    rollback: (input) => (rollback ? { strategy: 'custom', steps: rollback } : rollbackPlan('custom', input)),
  };
}

/** A harness whose config carries planStrategy(steps, opts.rollback) as the plugin "custom". */
export function createPlanHarness(steps: Step[], opts: Parameters<typeof createHarness>[0] & { rollback?: Step[] } = {}): Harness {
  return createHarness({ ...opts, config: { ...opts.config, strategies: { plugins: { custom: planStrategy(steps, opts.rollback) } } } });
}
