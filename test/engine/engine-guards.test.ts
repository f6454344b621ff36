import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Strategy } from '../../src/index.js';
import { rollbackPlan } from '../../strategies/index.js';
import type { FakeState } from '../fake/fake-provider.js';
import { createHarness, type Harness } from './engine-harness.js';

/**
 * The engine's last lines of defence, which no built-in plan ever reaches: they keep a promise
 * when a plan (a user's strategy, a damaged record) or the world (a lease taken over mid-step)
 * does something the built-ins never do.
 */

let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

/** Every weight the router was ever asked to give `revision`. */
function weightsAskedFor(harness: Harness, revision: string): number[] {
  return harness
    .fakeState()
    .calls.filter((c) => c.method === 'setWeights')
    .map((c) => (c.args[0] as Record<string, number>)[revision] ?? 0);
}

describe('promise 1: no traffic for a revision that has not passed its health checks, whatever the plan says', () => {
  it("a user's strategy that shifts before any health check: refused before the router is called, rolled back, exit 1", async () => {
    // A plan with no provision step: the candidate's instances happen to be running (the fake
    // would accept the weight), but nothing in this deploy checked their health.
    const eager: Strategy = {
      name: 'eager',
      description: 'shift first, ask later',
      requires: ['weightedTraffic'],
      plan: () => ({
        strategy: 'eager',
        steps: [
          { kind: 'shiftTraffic', weights: { stable: 80, candidate: 20 } },
          { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } },
          { kind: 'retire', role: 'stable' },
        ],
      }),
      rollback: (input) => rollbackPlan('eager', input),
    };
    h = createHarness({ config: { strategies: { plugins: { eager } } } });
    const seeded: FakeState = {
      revisions: { v1: { revision: { id: 'v1' }, desired: 2, running: true }, v2: { revision: { id: 'v2' }, desired: 2, running: true } },
      weights: { v1: 100 },
      testRoute: null,
      calls: [],
    };
    writeFileSync(h.stateFile, JSON.stringify(seeded));

    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'eager', rollbackOnFailure: true, lockWaitMs: 0, force: true });

    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Refusing to send 20% of traffic to candidate v2: it has not passed its health checks/);
    expect(weightsAskedFor(h, 'v2').filter((w) => w > 0)).toEqual([]);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    const record = await h.latest();
    expect(record?.status).toBe('rolled-back');
    expect(record?.error?.step).toBe(0);
  });

  it('a damaged record (the candidate no longer marked healthy) resumed by `promote`: the next shift is refused, traffic goes back to stable', async () => {
    h = createHarness({ config: { strategies: { canary: { steps: [{ weight: 20, pause: {} }, { weight: 100 }] } } } });
    const paused = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0, stopAtPause: true });
    expect(paused.exitCode).toBe(ExitCode.Paused);
    expect(h.fakeState().weights).toEqual({ v1: 80, v2: 20 });

    // The record on disk loses the candidate's health (a hand edit, a bad merge of the state store).
    const record = await h.latest();
    if (!record) throw new Error('no record after the paused deploy');
    expect(record.healthy).toContain('candidate');
    await h.store.records.save({ ...record, healthy: record.healthy.filter((r) => r !== 'candidate') });
    const setsBefore = weightsAskedFor(h, 'v2').length;

    const outcome = await h.engine.promote();

    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Refusing to send 100% of traffic to candidate v2: it has not passed its health checks/);
    // After the damage, the router was only ever asked to take weight away from v2.
    expect(weightsAskedFor(h, 'v2').slice(setsBefore)).toEqual([0]);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('promise 11: a process that lost its lock inside a step makes no provider write', () => {
  it('the lease is taken over during a slow router read before a shift: the shift is never written, no rollback, exit 4 naming the new holder', async () => {
    h = createHarness();
    const harness = h;
    const router = harness.provider.router;
    const getWeights = router.getWeights.bind(router);
    let shiftInFlight = false;
    let tookOver = false;
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.phase === 'deploy') {
        shiftInFlight = e.step.kind === 'shiftTraffic' && e.step.weights.candidate === 50;
      }
    });
    // The first router call of the 50% shift is its "did anyone change the weights behind us" read,
    // made after the step's checkpoint and before its write. Hold it while another zdd takes the lease.
    router.getWeights = async () => {
      if (shiftInFlight && !tookOver) {
        tookOver = true;
        expect(await harness.store.lock.forceRelease('web')).toBe(true);
        await harness.store.lock.acquire('web', { who: 'ops', host: 'laptop', pid: 4242, since: new Date().toISOString(), command: 'zdd rollback', deploymentId: 'other' }, { waitMs: 0 });
      }
      return getWeights();
    };

    const outcome = await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });

    expect(tookOver).toBe(true);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(/Lost the lock of service "web"/);
    expect(outcome.message).toMatch(/ops@laptop/);
    // Not the 50% shift, and not a rollback either: the new holder owns production now.
    expect(weightsAskedFor(harness, 'v2')).toEqual([20]);
    expect(harness.fakeState().weights).toEqual({ v1: 80, v2: 20 });
    expect(harness.events.some((e) => e.type === 'rollback.start')).toBe(false);
  });
});
