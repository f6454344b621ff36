import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import { InterruptedError } from '../../src/core/errors.js';
import { duration, intBetween, z, type Strategy } from '../../src/index.js';
import { rollbackPlan } from '../../strategies/index.js';
import { createHarness, type Harness } from './engine-harness.js';

const STRATEGIES = ['canary', 'linear', 'blue-green', 'rolling'] as const;
let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

async function planLength(strategy: string): Promise<number> {
  const probe = createHarness();
  try {
    return (await probe.engine.plan({ candidate: { id: 'v2' }, strategy })).steps.length;
  } finally {
    probe.cleanup();
  }
}

function deploy(harness: Harness, strategy: string) {
  return harness.engine.deploy({ candidate: { id: 'v2' }, strategy, rollbackOnFailure: true, lockWaitMs: 0 });
}

describe('engine: happy path', () => {
  it.each(STRATEGIES)('%s moves all traffic to the candidate, verifies every shift and retires stable', async (strategy) => {
    h = createHarness();
    const outcome = await deploy(h, strategy);
    expect(outcome.message).toContain('v2');
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const fake = h.fakeState();
    expect(fake.weights).toEqual({ v2: 100 });
    expect(fake.revisions.v1.running).toBe(false);
    expect(fake.testRoute).toBeNull();
    // Promise 2: every setWeights is followed at once by a getWeights.
    const calls = fake.calls.map((c) => c.method).filter((m) => m === 'setWeights' || m === 'getWeights');
    const sets = calls.filter((m) => m === 'setWeights').length;
    expect(sets).toBeGreaterThan(0);
    calls.forEach((m, i) => {
      if (m === 'setWeights') expect(calls[i + 1]).toBe('getWeights');
    });
    const record = await h.latest();
    expect(record?.status).toBe('succeeded');
    expect(record?.stepIndex).toBe(record?.plan.length);
    expect(h.events.at(-1)?.type).not.toBe('done'); // the CLI emits done, not the engine
  });

  it('first deploy (nothing running) provisions and shifts 100% without a bake', async () => {
    h = createHarness({ stable: null });
    const outcome = await deploy(h, 'canary');
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.fakeState().weights).toEqual({ v2: 100 });
  });

  it('deploying the revision that already serves is a no-op', async () => {
    h = createHarness();
    const outcome = await h.engine.deploy({ candidate: { id: 'v1' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.result).toBe('nothing-to-do');
    expect(outcome.exitCode).toBe(0);
  });
});

describe('engine: a failure at every step of every strategy rolls back to stable', () => {
  for (const strategy of STRATEGIES) {
    it(`${strategy}: failure at each step → stable 100%, record rolled-back, exit 1`, async () => {
      const n = await planLength(strategy);
      expect(n).toBeGreaterThan(3);
      for (let i = 0; i < n; i++) {
        h = createHarness();
        const harness = h;
        harness.bus.on((e) => {
          if (e.type === 'step.start' && e.phase === 'deploy' && e.index === i) harness.breakEverything();
          if (e.type === 'rollback.start') harness.heal();
        });
        const outcome = await deploy(harness, strategy);
        const where = `${strategy} step ${i + 1}/${n}`;
        expect(outcome.exitCode, where).toBe(ExitCode.RolledBack);
        expect(harness.fakeState().weights, where).toEqual({ v1: 100 });
        expect(harness.fakeState().revisions.v1?.running, where).toBe(true);
        expect(harness.fakeState().revisions.v2?.running ?? false, where).toBe(false);
        const record = await harness.latest();
        expect(record?.status, where).toBe('rolled-back');
        expect(record?.error?.step, where).toBe(i);
        harness.cleanup();
        h = undefined;
      }
    });

    it(`${strategy}: a failure during the rollback too → exit 4 naming the state`, async () => {
      const n = await planLength(strategy);
      for (const i of [0, Math.floor(n / 2), n - 1]) {
        h = createHarness();
        const harness = h;
        harness.bus.on((e) => {
          if (e.type === 'step.start' && e.phase === 'deploy' && e.index === i) harness.breakEverything();
        });
        const outcome = await deploy(harness, strategy);
        const where = `${strategy} step ${i + 1}/${n}`;
        expect(outcome.exitCode, where).toBe(ExitCode.NeedsPerson);
        expect(outcome.message, where).toContain('ROLLBACK FAILED');
        expect(outcome.message, where).toMatch(/last verified traffic: stable v1 \d+% \| candidate v2 \d+%/);
        const record = await harness.latest();
        expect(record?.status, where).toBe('rollback-failed');
        // And the next `zdd rollback` resumes it once the cause is gone.
        harness.heal();
        const again = await harness.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
        expect(again.exitCode, where).toBe(ExitCode.Ok);
        expect(harness.fakeState().weights, where).toEqual({ v1: 100 });
        harness.cleanup();
        h = undefined;
      }
    });
  }
});

describe('engine: signals, verification and safety', () => {
  it('an interrupt mid-bake rolls back and reports interrupted (exit 130)', async () => {
    h = createHarness();
    const harness = h;
    harness.bus.on((e) => {
      if (e.type === 'bake.progress' && !harness.controller.signal.aborted) harness.controller.abort(new InterruptedError('SIGINT'));
    });
    const outcome = await deploy(harness, 'canary');
    expect(outcome.exitCode).toBe(ExitCode.Interrupted);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });

  it('a weight read back that differs from what was written fails the step and rolls back', async () => {
    h = createHarness({ fake: { failures: [{ method: 'getWeights', mismatch: true }] } });
    const outcome = await deploy(h, 'canary');
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Router reports .* after zdd set/);
  });

  it('a candidate that never becomes healthy gets no traffic and is removed', async () => {
    h = createHarness({ fake: { unhealthy: ['v2'] } });
    const outcome = await deploy(h, 'canary');
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    const setWeights = h.fakeState().calls.filter((c) => c.method === 'setWeights');
    for (const c of setWeights) expect((c.args[0] as Record<string, number>).v2 ?? 0).toBe(0);
    expect(h.fakeState().revisions.v2.running).toBe(false);
  });

  it('--no-rollback leaves production where it failed and says so (exit 4)', async () => {
    h = createHarness();
    const harness = h;
    harness.bus.on((e) => {
      if (e.type === 'bake.progress') harness.breakEverything();
    });
    const outcome = await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toContain('stable v1 80% | candidate v2 20%');
    expect((await harness.latest())?.status).toBe('failed');
  });

  it('a preflight failure changes nothing and exits 5', async () => {
    h = createHarness({ fake: { failures: [{ method: 'preflight', message: 'AccessDenied: elasticloadbalancing:DescribeListeners' }] } });
    await expect(deploy(h, 'canary')).rejects.toMatchObject({ exitCode: ExitCode.ProviderBeforeChange });
    expect(h.fakeState().calls.filter((c) => c.method !== 'preflight')).toHaveLength(0);
    expect(await h.latest()).toBeNull();
  });

  it('rollback after a finished deploy restores the previous revision in one traffic switch while it is kept', async () => {
    h = createHarness({ config: { strategies: { 'blue-green': { keepPrevious: '10m' } } } });
    expect((await deploy(h, 'blue-green')).exitCode).toBe(0);
    expect(h.fakeState().revisions.v1.running).toBe(true);
    const before = h.fakeState().calls.length;
    const outcome = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(0);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    const calls = h.fakeState().calls.slice(before).map((c) => c.method);
    expect(calls.filter((m) => m === 'setWeights')).toHaveLength(1);
    expect(h.fakeState().revisions.v2.running).toBe(false);
    // Rollback is idempotent: nothing further to roll back to.
    const again = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(again.exitCode).toBe(0);
  });

  it('with nothing to roll back it says so and exits 0', async () => {
    h = createHarness();
    const outcome = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(outcome.result).toBe('nothing-to-do');
    expect(outcome.exitCode).toBe(0);
  });

  it('a plugin strategy brings its options schema: its section is validated, normalised, planned and run like a built-in', async () => {
    const seen: unknown[] = [];
    const halfway: Strategy<{ weight: number; bake: number }> = {
      name: 'halfway',
      description: 'half, bake, all',
      requires: ['weightedTraffic'],
      optionsSchema: z.strictObject({ weight: intBetween(1, 99, 'first step'), bake: duration('bake after it') }),
      plan(input) {
        seen.push(input.options);
        return {
          strategy: 'halfway',
          steps: [
            { kind: 'provision', role: 'candidate', replicas: input.replicas },
            { kind: 'shiftTraffic', weights: { stable: 100 - input.options.weight, candidate: input.options.weight } },
            { kind: 'pause', durationMs: input.options.bake },
            { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } },
            { kind: 'retire', role: 'stable' },
          ],
        };
      },
      rollback: (input) => rollbackPlan('halfway', input),
    };
    const bad = () => createHarness({ config: { strategies: { plugins: { halfway }, halfway: { weight: 120, bake: 'soon' } } } });
    expect(bad).toThrow(/strategies\.halfway\.weight: must be 1–99, got 120/);
    expect(bad).toThrow(/strategies\.halfway\.bake: must be a duration/);
    expect(() => createHarness({ config: { strategies: { plugins: { halfway }, halfwya: {} } } })).toThrow(/strategies\.halfwya: unknown key; did you mean "halfway"\?/);

    h = createHarness({ config: { strategies: { plugins: { halfway }, halfway: { weight: 30, bake: '2s' } } } });
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'halfway', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    // plan() is pure and may be asked more than once (the drain lint reads the plan before the deploy builds it).
    expect(seen.length).toBeGreaterThanOrEqual(1);
    for (const s of seen) expect(s).toEqual({ weight: 30, bake: 2000 });
    const sets = h.fakeState().calls.filter((c) => c.method === 'setWeights').map((c) => c.args[0]);
    expect(sets).toEqual([{ v1: 70, v2: 30 }, { v1: 0, v2: 100 }]);
    expect((await h.latest())?.strategy).toBe('halfway');
  });
});

describe('engine: the state store fails', () => {
  it('a lock release that fails after a successful deploy keeps exit 0 and warns', async () => {
    h = createHarness();
    const acquire = h.store.lock.acquire.bind(h.store.lock);
    h.store.lock.acquire = async (...args) => {
      const lease = await acquire(...args);
      return { token: lease.token, heartbeat: () => lease.heartbeat(), release: async () => Promise.reject(new Error('503 SlowDown')) };
    };
    const outcome = await deploy(h, 'canary');
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.events.some((e) => e.type === 'warn' && /Could not release the lock of web in .*: 503 SlowDown/.test(e.message))).toBe(true);
  });
});

describe('engine: kept revisions never orphaned (issue 19, point 5)', () => {
  it('a kept revision that had weight when its turn came (forced past drift) is retired by a later deploy once it is at 0%', async () => {
    h = createHarness({ config: { strategies: { 'blue-green': { bake: '10s', keepPrevious: '1h' } } } });
    const bg = (id: string, force = false) => h!.engine.deploy({ candidate: { id }, strategy: 'blue-green', rollbackOnFailure: true, lockWaitMs: 0, force });
    expect((await bg('v2')).exitCode).toBe(ExitCode.Ok); // v1 kept at 0%
    // Someone gives the kept v1 30% by hand; the next deploy is forced past that drift.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(h.stateFile, JSON.stringify({ ...h.fakeState(), weights: { v1: 30, v2: 70 } }));
    expect((await bg('v3', true)).exitCode).toBe(ExitCode.Ok);
    expect(h.events.some((e) => e.type === 'warn' && e.message === 'Not retiring v1: the router still gives it 30%')).toBe(true);
    expect(h.fakeState().revisions.v1.running).toBe(true); // v1 now at 0%, but the latest record keeps v2, not v1
    expect(h.fakeState().weights.v1 ?? 0).toBe(0);

    expect((await bg('v4')).exitCode).toBe(ExitCode.Ok);
    expect(h.fakeState().revisions.v1.running).toBe(false);
    expect(h.events.some((e) => e.type === 'info' && e.message === 'Retired v1: an earlier deploy kept it and no deploy since has (it still ran with no traffic)')).toBe(true);
    // v2 (kept by the v3 deploy) was retired as before; v3 is kept by the v4 deploy, v4 serves.
    expect(Object.entries(h.fakeState().revisions).filter(([, r]) => r.running).map(([id]) => id).sort()).toEqual(['v3', 'v4']);
  });
});
