import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import { InterruptedError, LockLostError } from '../../src/core/errors.js';
import { describeStep } from '../../src/core/plan.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { createHarness, type Harness } from './engine-harness.js';

/**
 * The rollback phase as the user sees it: what the failure says (the step, the reason), what a
 * failed rollback leaves in the record, what a signal during the rollback does, and how the final
 * record is written when the store is what failed.
 */
let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

const canary = (harness: Harness, rollbackOnFailure = true) => harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure, lockWaitMs: 0 });
const warnings = (harness: Harness) => harness.events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
const infos = (harness: Harness) => harness.events.filter((e) => e.type === 'info').map((e) => (e as { message: string }).message);

describe('rollback phase: what a failure says', () => {
  it('a failed step names itself: its number, the plan length and what it did, in the message and the record', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1, message: 'listener busy' }] } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    const record = await h.latest();
    const step = record!.error!.step!;
    expect(outcome.message).toContain(`failed at step ${step + 1}/${record!.plan.length} (shift traffic: stable 80% | candidate 20%)`);
    expect(outcome.message).toContain('listener busy');
    expect(record!.error).toMatchObject({ code: 'provider', message: expect.stringContaining('listener busy') });
    expect(record!.rollback?.reason).toMatch(/listener busy.* at step \d+\/\d+ \(shift traffic: stable 80% \| candidate 20%\)$/);
    expect(warnings(h).filter((m) => m.startsWith('Unexpected error')), "zdd's own errors are not unexpected").toEqual([]);
  });

  it('an error that is not zdd\'s own is recorded as internal, and its stack is shown as a warning', async () => {
    h = createHarness();
    const router = h.provider.router;
    const setWeights = router.setWeights.bind(router);
    let first = true;
    router.setWeights = async (weights) => {
      if (first) {
        first = false;
        throw new TypeError("Cannot read properties of undefined (reading 'arn')");
      }
      return setWeights(weights);
    };
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect((await h.latest())?.error).toMatchObject({ code: 'internal', message: "Cannot read properties of undefined (reading 'arn')" });
    expect(warnings(h)).toContainEqual(expect.stringMatching(/^Unexpected error: TypeError: Cannot read properties of undefined \(reading 'arn'\)\n\s+at /));
    expect(warnings(h).filter((m) => m.startsWith('Unexpected error'))).toHaveLength(1);
  });

  it.each([
    ['a thrown string', () => 'listener busy', 'listener busy'],
    ['an Error without a stack (some libraries strip it)', () => Object.assign(new Error('socket hang up'), { stack: undefined }), 'Error: socket hang up'],
  ])('%s is shown as text in the warning, never "undefined"', async (_what, thrown, shown) => {
    h = createHarness();
    const router = h.provider.router;
    const setWeights = router.setWeights.bind(router);
    let first = true;
    router.setWeights = async (weights) => {
      if (first) {
        first = false;
        throw thrown();
      }
      return setWeights(weights);
    };
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings(h).filter((m) => m.startsWith('Unexpected error'))).toEqual([`Unexpected error: ${shown}`]);
  });

  it('an interrupt between two steps names the step that was next, in the message and the record', async () => {
    h = createHarness();
    const harness = h;
    let stoppedAfter = -1;
    harness.bus.on((e) => {
      if (e.type === 'step.done' && e.phase === 'deploy' && e.step.kind === 'shiftTraffic' && stoppedAfter < 0) {
        stoppedAfter = e.index;
        harness.controller.abort(new InterruptedError('SIGTERM'));
      }
    });
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.Interrupted);
    const record = (await harness.latest())!;
    const next = stoppedAfter + 1;
    expect(outcome.message).toContain(`interrupted by SIGTERM at step ${next + 1}/${record.plan.length} (${describeStep(record.plan[next])}); rolled back.`);
    expect(record.error).toMatchObject({ message: 'interrupted by SIGTERM', step: next });
  });

  it('a deploy whose last checkpoint cannot be written is rolled back, and the message names no step: all were done', async () => {
    h = createHarness();
    const harness = h;
    const save = harness.store.records.save.bind(harness.store.records);
    let fail = false;
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.phase === 'deploy' && e.index === e.total - 1) fail = true;
    });
    harness.store.records.save = async (r) => {
      if (fail) {
        fail = false;
        throw new Error('503 SlowDown');
      }
      return save(r);
    };
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/^Deploy of v2 failed: Could not write the deployment record to memory: 503 SlowDown\nRolled back\./);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });

  it('--no-rollback: the record says failed, with the time it stopped, and the message names the step', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 2, message: 'listener busy' }] } });
    const outcome = await canary(h, false);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(/^Deploy failed at step \d+\/\d+ \(shift traffic: stable 50% \| candidate 50%\): .*listener busy/);
    const record = await h.latest();
    expect(record?.status).toBe('failed');
    expect(record?.finishedAt).toBeDefined();
    expect(record?.rollback).toBeUndefined();
    expect(h.fakeState().weights).toEqual({ v1: 80, v2: 20 });
  });

  it('a rollback that fails keeps the deploy\'s error and adds the rollback\'s, in the record', async () => {
    h = createHarness({ fake: { failures: [1, 2, 3, 4].map((nth) => ({ method: 'setWeights' as const, nth, message: nth === 1 ? 'listener busy' : 'listener gone' })) } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    const record = await h.latest();
    expect(record?.status).toBe('rollback-failed');
    expect(record?.error?.code).toBe('provider');
    expect(record?.error?.message).toMatch(/^.*listener busy.*; rollback failed: .*listener gone/);
    expect(h.events.filter((e) => e.type === 'rollback.done')).toEqual([expect.objectContaining({ ok: false, message: expect.stringContaining('listener gone') })]);
  });
});

describe('rollback phase: signals and the final record', () => {
  it('a signal during the rollback only warns: the rollback finishes', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    harness.bus.on((e) => {
      if (e.type === 'rollback.start') harness.controller.abort(new InterruptedError('SIGINT'));
    });
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings(harness)).toContain('Rollback in progress: it will finish before zdd exits.');
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
    expect((await harness.latest())?.status).toBe('rolled-back');
  });

  it('the rollback says when it started and ended, and which stable it put back', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(h.events.filter((e) => e.type === 'rollback.done')).toEqual([expect.objectContaining({ ok: true, message: 'Production on stable v1' })]);
    const record = await h.latest();
    expect(record?.finishedAt).toBeDefined();
    expect(record?.rollback?.startedAt).toBeDefined();
  });

  it('a final record written after one failure says "after 1 retry", having waited 250 ms on the clock', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    const save = harness.store.records.save.bind(harness.store.records);
    let failing = 0;
    let doneAt = 0;
    harness.bus.on((e) => {
      if (e.type === 'rollback.done' && e.ok) {
        failing = 1;
        doneAt = harness.clock.now();
      }
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
    expect(infos(harness)).toContainEqual(expect.stringMatching(/^Deployment record written to .* after 1 retry$/));
    expect(harness.clock.now() - doneAt).toBe(250);
  });

  it('a final record that cannot be written: five tries with backoff (250 ms doubling), then the rollback is unrecorded', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    let saves = 0;
    let doneAt = 0;
    harness.bus.on((e) => {
      if (e.type === 'rollback.done' && e.ok) {
        doneAt = harness.clock.now();
        harness.store.records.save = async () => {
          saves++;
          throw new Error('503 SlowDown');
        };
      }
    });
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toContain('could not be written');
    expect(saves).toBe(5);
    expect(harness.clock.now() - doneAt).toBe(250 + 500 + 1000 + 2000);
  });

  it('a lock lost while the final record is written: the rollback stops there and says the lock is gone', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    let saves = 0;
    harness.bus.on((e) => {
      if (e.type === 'rollback.done' && e.ok) {
        harness.store.records.save = async () => {
          saves++;
          throw new LockLostError('web', 'the lock was taken over', null);
        };
      }
    });
    const outcome = await canary(harness);
    expect(saves).toBe(1);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toContain('stopped without rolling back');
  });
  it('while it rolls back the record says rolling-back; the first deploy rolled back leaves stable "(none)"', async () => {
    h = createHarness({ stable: null, fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const harness = h;
    let during: Promise<string | undefined> | undefined;
    harness.bus.on((e) => {
      if (e.type === 'rollback.start') during = harness.latest().then((r) => r?.status);
    });
    await canary(harness);
    expect(await during).toBe('rolling-back');
    expect(harness.events.filter((e) => e.type === 'rollback.done')).toEqual([expect.objectContaining({ ok: true, message: 'Production on stable (none)' })]);
  });

  it('a record written at the first try says nothing about retries; a signal after the rollback ended does not warn', async () => {
    h = createHarness({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const outcome = await canary(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(infos(h).filter((m) => m.startsWith('Deployment record written'))).toEqual([]);
    h.controller.abort(new InterruptedError('SIGTERM'));
    expect(warnings(h).filter((m) => m.startsWith('Rollback in progress'))).toEqual([]);
  });

  it('an interrupt during the deploy: the record and the message say which signal', async () => {
    h = createHarness();
    const harness = h;
    harness.bus.on((e) => {
      if (e.type === 'bake.progress' && !harness.controller.signal.aborted) harness.controller.abort(new InterruptedError('SIGTERM'));
    });
    const outcome = await canary(harness);
    expect(outcome.exitCode).toBe(ExitCode.Interrupted);
    expect(outcome.message).toContain('interrupted by SIGTERM');
    expect((await harness.latest())?.error?.message).toBe('interrupted by SIGTERM');
  });
  // The harness's own process is test@test-host with this pid: a pid or a host alone tells no process
  // (containers share pids, VMs share host names), so each differing on its own is another process.
  it.each([
    ['takes the deploy over (its record, another process)', 'same', {}, /The deploy was taken over by ops@laptop \(pid 4242, zdd rollback\): the record now says rolling-back/],
    ['takes the deploy over from the same host (another pid)', 'same', { host: 'test-host' }, /The deploy was taken over by ops@test-host \(pid 4242, zdd rollback\)/],
    ['takes the deploy over with the same pid on another host (a container)', 'same', { pid: process.pid }, new RegExp(`The deploy was taken over by ops@laptop \\(pid ${process.pid}, zdd rollback\\)`)],
    ['starts a newer run', 'newer', {}, /A newer run \(d-next, v3\) was started by ops@laptop \(pid 4242, zdd rollback\): running\./],
    ['starts a newer run with the same pid and host (another container)', 'newer', { host: 'test-host', pid: process.pid }, /A newer run \(d-next, v3\) was started by ops@test-host/],
    ['writes no record yet', 'none', {}, /Last traffic this deploy verified: stable v1 80% \| candidate v2 20% \(it may have changed since\)/],
    ['leaves the records unreadable', 'unreadable', {}, /Last traffic this deploy verified: stable v1 80% \| candidate v2 20% \(it may have changed since\)\.\nDeploy .* stopped without rolling back: whoever holds the lock now owns production\./],
  ])('a lock lost in a step to a process that %s: the message says what the record shows', async (_what, write, over, expected) => {
    h = createHarness();
    const harness = h;
    const router = harness.provider.router;
    const getWeights = router.getWeights.bind(router);
    let shiftInFlight = false;
    let tookOver = false;
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.phase === 'deploy') shiftInFlight = e.step.kind === 'shiftTraffic' && e.step.weights.candidate === 50;
    });
    const by = { who: 'ops', host: 'laptop', pid: 4242, since: new Date().toISOString(), command: 'zdd rollback', ...over };
    router.getWeights = async () => {
      if (shiftInFlight && !tookOver) {
        tookOver = true;
        await harness.store.lock.forceRelease('web');
        await harness.store.lock.acquire('web', { ...by, deploymentId: 'other' }, { waitMs: 0 });
        const mine = (await harness.latest())!;
        // As zdd writes it in a record: the command without "zdd".
        const writer = { ...by, command: 'rollback' };
        if (write === 'same') await harness.store.records.save({ ...mine, status: 'rolling-back', by: writer });
        if (write === 'newer') await harness.store.records.save({ ...mine, id: 'd-next', candidate: { id: 'v3' }, status: 'running', by: writer, startedAt: new Date(Date.now() + 1000).toISOString() });
        if (write === 'unreadable') {
          harness.store.records.latest = async () => {
            throw new Error('503 SlowDown');
          };
        }
      }
      return getWeights();
    };
    const outcome = await canary(harness);
    expect(tookOver).toBe(true);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(expected);
  });
});

describe('rollback phase: a rollback run again, and the record it leaves', () => {
  /** A deploy run by a process that died (another host): the record as that process left it, no lock. */
  function leftBy(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
    const plan = [{ kind: 'shiftTraffic' as const, weights: { stable: 80, candidate: 20 } }, { kind: 'pause' as const }];
    const by = { who: 'ci', host: 'ci-runner-3', pid: 1, since: new Date().toISOString(), command: 'deploy', deploymentId: 'd1' };
    const record = newRecord({ id: 'd1', service: 'web', strategy: 'canary', stable: { revision: { id: 'v1' }, replicas: 2 }, candidate: { id: 'v2' }, plan, by, now: Date.now() });
    return { ...record, weights: { stable: 80, candidate: 20 }, ...over };
  }
  /** The fake provider as that deploy left it: both revisions running, 80/20. */
  const seedBoth = (harness: Harness) =>
    writeFileSync(
      harness.stateFile,
      JSON.stringify({ revisions: { v1: { revision: { id: 'v1' }, desired: 2, running: true }, v2: { revision: { id: 'v2' }, desired: 1, running: true } }, weights: { v1: 80, v2: 20 }, testRoute: null, calls: [] }),
    );

  it('a rollback cut short is resumed at its step: the steps done are not run again, its reason and start stay', async () => {
    h = createHarness();
    seedBoth(h);
    writeFileSync(h.stateFile, JSON.stringify({ ...h.fakeState(), weights: { v1: 100 } }));
    const startedAt = '2026-12-04T08:00:00.000Z';
    const rollback = { reason: 'listener busy at step 1/2 (shift traffic: stable 80% | candidate 20%)', startedAt, plan: [{ kind: 'shiftTraffic' as const, weights: { stable: 100, candidate: 0 } }, { kind: 'retire' as const, role: 'candidate' as const }], stepIndex: 1 };
    await h.store.records.save(leftBy({ status: 'rolling-back', weights: { stable: 100, candidate: 0 }, rollback }));
    const outcome = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.fakeState().calls.map((c) => c.method).filter((m) => m === 'setWeights' || m === 'retire')).toEqual(['retire']);
    const record = await h.latest();
    expect(record?.status).toBe('rolled-back');
    expect(record?.rollback).toMatchObject({ reason: rollback.reason, startedAt, stepIndex: 2 });
  });

  it("a crashed deploy whose rollback fails: the record's error is the rollback's, with why it rolled back", async () => {
    h = createHarness();
    seedBoth(h);
    const left = leftBy({ status: 'running' });
    await h.store.records.save(left);
    h.breakEverything();
    const outcome = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    const record = await h.latest();
    expect(record?.status).toBe('rollback-failed');
    expect(record?.error).toEqual({
      code: 'rollback',
      message: `the deploy's process (pid 1 on ci-runner-3, \`zdd deploy\`) died during step 1/2, last heard at ${left.updatedAt}; then a manual rollback of an unfinished deploy; rollback failed: fake setWeights failed (fail file present)`,
    });
  });

  it("a failed rollback keeps the deploy's error whole (its step and hint) and adds the rollback's to its message", async () => {
    h = createHarness({ fake: { failures: [1, 2, 3, 4].map((nth) => ({ method: 'setWeights' as const, nth, message: nth === 1 ? 'listener busy' : 'listener gone' })) } });
    const deployed = await canary(h);
    expect(deployed.exitCode).toBe(ExitCode.NeedsPerson);
    const record = await h.latest();
    expect(record?.error).toMatchObject({ code: 'provider', step: expect.any(Number), message: 'listener busy; rollback failed: listener gone' });
    expect(record?.error?.step).toBe(record?.plan.findIndex((s) => s.kind === 'shiftTraffic'));
  });

  it('a rolling deploy that failed after shrinking stable: the rollback scales stable back to the replicas it had', async () => {
    h = createHarness({ fake: { failures: [{ method: 'scale', nth: 2, message: 'no capacity' }] } });
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'rolling', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    const scaled = h.fakeState().calls.filter((c) => c.method === 'scale').map((c) => c.args);
    expect(scaled[0], 'the deploy shrank stable first').toEqual(['v1', 1]);
    expect(h.fakeState().revisions.v1).toMatchObject({ desired: 2, running: true });
    expect(h.fakeState().weights).toEqual({ v1: 100 });
  });

  it('following an abort of a run whose strategy this config does not know (a plugin since removed): told in a deploy\'s words', async () => {
    h = createHarness();
    await h.store.records.save(leftBy({ strategy: 'gone-plugin', status: 'rolled-back', weights: { stable: 100, candidate: 0 } }));
    const holder = { who: 'ci', host: 'ci-runner-3', pid: 1, since: new Date().toISOString() };
    const outcome = await h.engine.rollback({ abortOnly: true, lockWaitMs: 0, asked: { deploymentId: 'd1', holder } });
    expect(outcome).toMatchObject({ exitCode: ExitCode.Ok, message: 'Deploy d1 aborted and rolled back: production on stable v1.' });
  });
});
