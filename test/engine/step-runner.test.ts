import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step } from '../../src/index.js';
import { createHarness, planStrategy, type Harness } from './engine-harness.js';

/**
 * What each step refuses or checks, driven through the engine by a user's strategy (a plan the
 * built-ins never produce): every refusal happens before the provider call it guards.
 */

let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

async function deployPlan(steps: Step[], opts: Parameters<typeof createHarness>[0] = {}) {
  h = createHarness({ ...opts, config: { ...opts.config, strategies: { plugins: { custom: planStrategy(steps) } } } });
  return h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'custom', rollbackOnFailure: true, lockWaitMs: 0 });
}

function methods(harness: Harness): string[] {
  return harness.fakeState().calls.map((c) => c.method);
}

const provision: Step = { kind: 'provision', role: 'candidate', replicas: 2 };

describe('step runner: refusals', () => {
  it('weights that do not sum to 100 are a plan error; the router is never called', async () => {
    const outcome = await deployPlan([provision, { kind: 'shiftTraffic', weights: { stable: 60, candidate: 30 } }]);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Plan error: weights must sum to 100, got stable 60 \+ candidate 30/);
    expect(h!.fakeState().calls.filter((c) => c.method === 'setWeights').map((c) => c.args[0])).toEqual([{ v1: 100, v2: 0 }]);
  });

  it('weights of 0 and 0 are allowed (nothing serves: a plan may drain both)', async () => {
    const outcome = await deployPlan([provision, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 0 } }, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }]);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h!.fakeState().calls.filter((c) => c.method === 'setWeights').map((c) => c.args[0])).toEqual([{ v1: 0, v2: 0 }, { v1: 0, v2: 100 }]);
  });

  it('scaling a revision to 0 while it has traffic is refused before the platform is asked', async () => {
    const outcome = await deployPlan([provision, { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } }, { kind: 'scale', role: 'stable', replicas: 0 }]);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Refusing to scale stable v1 to 0 while it has 50% of traffic/);
    expect(h!.fakeState().calls.filter((c) => c.method === 'scale' && c.args[0] === 'v1' && c.args[1] === 0)).toEqual([]);
  });

  it('retiring a revision that has traffic is refused before the platform is asked', async () => {
    const outcome = await deployPlan([provision, { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } }, { kind: 'retire', role: 'stable' }]);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Refusing to retire stable v1 while it has 50% of traffic/);
    expect(h!.fakeState().calls.filter((c) => c.method === 'retire' && c.args[0] === 'v1')).toEqual([]);
    expect(h!.fakeState().revisions.v1.running).toBe(true);
  });

  it('test traffic is never routed to a revision that has not passed its health checks', async () => {
    const outcome = await deployPlan([{ kind: 'testRoute', role: 'candidate' }]);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Refusing to route test traffic to candidate v2: it has not passed its health checks/);
    expect(h!.fakeState().calls.filter((c) => c.method === 'setTestRoute' && c.args[0] === 'v2')).toEqual([]);
  });

  it('a retire while the test route points at the revision removes the route first, then stops it', async () => {
    const outcome = await deployPlan([provision, { kind: 'testRoute', role: 'candidate' }, { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }, { kind: 'retire', role: 'candidate' }, { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }]);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const calls = h!.fakeState().calls.filter((c) => c.method === 'setTestRoute' || c.method === 'retire');
    expect(calls.map((c) => [c.method, c.args[0]])).toEqual([
      ['setTestRoute', 'v2'],
      ['setTestRoute', null],
      ['retire', 'v2'],
    ]);
    const record = await h!.latest();
    expect(record?.testRoute).toBeNull();
    expect(record?.replicas.candidate).toBe(0);
    expect(record?.healthy).not.toContain('candidate');
  });

  it('a step on a role with no revision (stable on a first deploy) is a plan error naming it', async () => {
    const outcome = await deployPlan([{ kind: 'scale', role: 'stable', replicas: 2 }], { stable: null });
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Plan error: the step acts on stable, but this deploy has no stable revision/);
  });

  it('retiring a role with no revision does nothing', async () => {
    const outcome = await deployPlan([provision, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }, { kind: 'retire', role: 'stable' }], { stable: null });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(methods(h!)).not.toContain('retire');
  });
});

describe('step runner: scale', () => {
  it('scaling up waits until the new instances are healthy; scaling down does not wait', async () => {
    const outcome = await deployPlan([provision, { kind: 'scale', role: 'candidate', replicas: 3 }, { kind: 'scale', role: 'candidate', replicas: 1 }, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }]);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const calls = h!.fakeState().calls.filter((c) => ['scale', 'waitHealthy'].includes(c.method)).map((c) => [c.method, ...c.args]);
    expect(calls).toEqual([
      ['waitHealthy', 'v2'],
      ['scale', 'v2', 3],
      ['waitHealthy', 'v2'],
      ['scale', 'v2', 1],
    ]);
    expect((await h!.latest())?.replicas.candidate).toBe(1);
  });

  it('a candidate whose scale-up never becomes healthy loses its health mark: no traffic follows', async () => {
    h = createHarness({ config: { strategies: { plugins: { custom: planStrategy([provision, { kind: 'scale', role: 'candidate', replicas: 3 }, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }]) } } } });
    const harness = h;
    let waits = 0;
    const waitHealthy = harness.provider.platform.waitHealthy.bind(harness.provider.platform);
    harness.provider.platform.waitHealthy = async (id, opts) => {
      if (++waits === 2) throw new Error('fake: the new instances never answered');
      return waitHealthy(id, opts);
    };
    const outcome = await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'custom', rollbackOnFailure: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    const record = await harness.latest();
    expect(record?.healthy).not.toContain('candidate');
    expect(harness.fakeState().calls.filter((c) => c.method === 'setWeights')).toEqual([]);
  });
});

describe('step runner: traffic', () => {
  it('weights changed behind zdd between two shifts: a warning naming each change, then the planned weights are written again', async () => {
    h = createHarness();
    const harness = h;
    harness.bus.on((e) => {
      // Someone edits the router during the first bake.
      if (e.type === 'bake.progress' && e.index === 8 && e.elapsedMs === 0) {
        const s = harness.fakeState();
        s.weights = { v1: 70, v2: 30 };
        import('node:fs').then(({ writeFileSync }) => writeFileSync(harness.stateFile, JSON.stringify(s)));
      }
    });
    const outcome = await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const warnings = harness.events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
    const changed = warnings.filter((m) => m.startsWith("The router changed between two of zdd's steps"));
    expect(changed).toEqual([expect.stringContaining('v1 70% (zdd set 80%), v2 30% (zdd set 20%)')]);
    expect(changed[0]).toContain('zdd sets the planned weights again');
  });

  it('no warning when the router still holds what zdd verified', async () => {
    h = createHarness();
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.events.some((e) => e.type === 'warn' && e.message.includes('The router changed'))).toBe(false);
  });

  it('every verified shift is recorded and announced with the weights per revision', async () => {
    h = createHarness();
    await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    const traffic = h.events.filter((e) => e.type === 'traffic');
    expect(traffic.map((e) => (e as { byRevision: unknown }).byRevision)).toEqual([
      { v1: 80, v2: 20 },
      { v1: 50, v2: 50 },
      { v1: 0, v2: 100 },
    ]);
    expect(traffic.every((e) => (e as { verified: boolean }).verified)).toBe(true);
    expect((await h.latest())?.weights).toEqual({ stable: 0, candidate: 100 });
  });
});

describe('step runner: the way back never gives up early', () => {
  const canary = (harness: Harness) => harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
  const warnings = (harness: Harness) => harness.events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);

  it('a rollback step that fails once is retried (with a warning) and the rollback finishes: exit 1', async () => {
    // The first shift fails (the deploy rolls back); the rollback's own shift fails once, then works.
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1, message: 'listener busy' }, { method: 'setWeights', nth: 2, message: 'listener busy' }] } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings(h)).toContainEqual(expect.stringMatching(/^Rollback step "shift traffic: stable 100% \| candidate 0%" failed \(attempt 1\/3\): listener busy; retrying$/));
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    expect((await h.latest())?.status).toBe('rolled-back');
  });

  it('a rollback step that fails three times ends the rollback as failed (exit 4); the steps after it do not run', async () => {
    h = createHarness({ fake: { failures: [1, 2, 3, 4].map((nth) => ({ method: 'setWeights' as const, nth, message: 'listener gone' })) } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(warnings(h).filter((m) => m.startsWith('Rollback step'))).toHaveLength(2);
    expect(h.fakeState().calls.filter((c) => c.method === 'retire')).toEqual([]);
    const record = await h.latest();
    expect(record?.status).toBe('rollback-failed');
    expect(record?.error?.message).toMatch(/rollback failed: listener gone/);
  });

  it('a hook that fails during the rollback warns and the rollback goes on', async () => {
    h = createHarness({ config: { hooks: { onRollback: 'exit 3' } }, fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings(h)).toContainEqual(expect.stringMatching(/onRollback.*\(rollback goes on\)$/s));
    expect(h.fakeState().weights).toEqual({ v1: 100 });
  });

  it('records that cannot be written during the rollback: it goes on to stable, warns once, and exit 4 says the record is out of date', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    harness.bus.on((e) => {
      if (e.type === 'rollback.start') {
        harness.store.records.save = async () => {
          throw new Error('EIO: disk gone');
        };
      }
    });
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(/Production is back on stable v1 .*but the deployment record could not be written to .*EIO: disk gone/s);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
    expect(warnings(harness).filter((m) => m.startsWith('Could not write the deployment record'))).toEqual([expect.stringMatching(/EIO: disk gone; the rollback goes on$/)]);
  });

  it('a record written again after failures says how many retries it took', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    const save = harness.store.records.save.bind(harness.store.records);
    let failing = 0;
    harness.bus.on((e) => {
      if (e.type === 'rollback.done' && e.ok) failing = 2;
    });
    harness.store.records.save = async (r) => {
      if (failing > 0) {
        failing--;
        throw new Error('503 SlowDown');
      }
      return save(r);
    };
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(harness.events.some((e) => e.type === 'info' && /Deployment record written to .* after 2 retries/.test(e.message))).toBe(true);
    expect((await harness.latest())?.status).toBe('rolled-back');
  });
});
