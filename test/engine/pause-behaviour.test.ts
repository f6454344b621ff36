import { afterEach, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/core/errors.js';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step } from '../../src/index.js';
import { createPlanHarness, type Harness } from './engine-harness.js';

/**
 * Pauses and bakes as the user and the provider see them, driven through the engine by a user's
 * strategy: the bake's progress, `zdd promote` during a bake and at a manual pause, --until-pause,
 * and what an analysis that fails or finds no evidence does (its gate's onInconclusive).
 */

let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

function harnessFor(steps: Step[], opts: Parameters<typeof createPlanHarness>[1] = {}): Harness {
  h = createPlanHarness(steps, opts);
  return h;
}

const deploy = (harness: Harness, over: { stopAtPause?: boolean } = {}) =>
  harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'custom', rollbackOnFailure: true, lockWaitMs: 0, ...over });

const provision: Step = { kind: 'provision', role: 'candidate', replicas: 2 };
const half: Step = { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } };
const all: Step = { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } };
const firstAll: Step = { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } };

const messages = (harness: Harness, type: 'warn' | 'info' | 'paused') =>
  harness.events.filter((e) => e.type === type).map((e) => (e as { message: string }).message);
const progress = (harness: Harness, index: number) =>
  harness.events.filter((e) => e.type === 'bake.progress' && e.index === index).map((e) => {
    const p = e as { elapsedMs: number; remainingMs: number };
    return [p.elapsedMs, p.remainingMs];
  });
const weightWrites = (harness: Harness) => harness.fakeState().calls.filter((c) => c.method === 'setWeights').map((c) => c.args[0] as Record<string, number>);

/** Resolves at the first event that matches. */
function when(harness: Harness, match: (e: Harness['events'][number]) => boolean): Promise<void> {
  return new Promise((resolve) => harness.bus.on((e) => match(e) && resolve()));
}

/** A check that never has evidence on a first deploy (its query names stable, and there is none); never reaches the server. */
const noEvidence = (onInconclusive?: string) => ({
  checks: [{ type: 'prometheus', address: 'http://127.0.0.1:9', query: 'up{revision="{{stable}}"}', successCondition: '< 1', interval: '1s' }],
  ...(onInconclusive ? { onInconclusive } : {}),
});

describe('a bake', () => {
  it('tells its progress once a second on the clock, the last tick the remainder, then goes on', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 2500 }, all]);
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(progress(harness, 2)).toEqual([
      [0, 2500],
      [1000, 1500],
      [2000, 500],
    ]);
    expect(weightWrites(harness)).toEqual([{ v1: 50, v2: 50 }, { v1: 0, v2: 100 }]);
    // The step took the bake's time on the clock, no more.
    const done = harness.events.find((e) => e.type === 'step.done' && e.index === 2) as { durationMs: number };
    expect(done.durationMs).toBe(2500);
  });

  it('`zdd promote` during a bake skips that bake only: the next bake runs its whole time', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 600_000 }, all, { kind: 'pause', durationMs: 3000 }, { kind: 'retire', role: 'stable' }]);
    const promoted = when(harness, (e) => e.type === 'bake.progress' && e.index === 2 && e.elapsedMs === 5000).then(() => harness.engine.promote());
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(await promoted).toMatchObject({ exitCode: ExitCode.Ok, message: expect.stringMatching(/^Asked deploy .* to go on past its pause\.$/) });
    expect(messages(harness, 'info').filter((m) => m === 'Promoted: bake skipped')).toHaveLength(1);
    // The first bake stopped well before its 10 minutes; the second ran to its end.
    expect(progress(harness, 2).length).toBeLessThan(600);
    expect(progress(harness, 4)).toEqual([
      [0, 3000],
      [1000, 2000],
      [2000, 1000],
    ]);
    expect((await harness.latest())?.promoteRequested).toBeUndefined();
  });

  it('an analysis that fails ends the bake at once and rolls back, naming the analysis', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 600_000, analysis: ['bad'] }, all], {
      config: { gates: { bad: { checks: [{ type: 'command', run: 'exit 1', interval: '1s' }] } } },
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Analysis "bad" failed: check .* failed/);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
    // Each measurement is on the record under the analysis' name (what `zdd status` shows).
    const record = await harness.latest();
    expect(record?.verdicts.filter((v) => v.gate === 'bad').length).toBeGreaterThan(0);
    expect(record?.verdicts.every((v) => v.gate === 'bad')).toBe(true);
  });

  it('an interrupt during a bake with an analysis rolls back as interrupted (exit 130)', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 600_000, analysis: ['analysis'] }, all]);
    harness.bus.on((e) => {
      if (e.type === 'bake.progress' && e.index === 2 && e.elapsedMs === 3000) harness.controller.abort(new InterruptedError('SIGINT'));
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Interrupted);
    expect(progress(harness, 2).length).toBeLessThan(10);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('a paused deploy continued by `zdd promote` after its gates changed (the config no longer defines one its plan uses)', () => {
  async function pausedThenDamaged(harness: Harness, next: Step): Promise<void> {
    expect((await deploy(harness, { stopAtPause: true })).exitCode).toBe(ExitCode.Paused);
    const record = await harness.latest();
    if (!record) throw new Error('no record after the paused deploy');
    await harness.store.records.save({ ...record, plan: [...record.plan.slice(0, 3), next, ...record.plan.slice(3)] });
  }

  it('a bake whose analysis is gone (no gates at all any more): a config error naming it, and traffic back on stable', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause' }, all], { config: { gates: undefined } });
    await pausedThenDamaged(harness, { kind: 'pause', durationMs: 10_000, analysis: ['gone'] });
    const outcome = await harness.engine.promote();
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/gates\.gone.*is used by the plan but not defined/s);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });

  it('a gate that is gone: the same', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause' }, all]);
    await pausedThenDamaged(harness, { kind: 'gate', gate: 'gone' });
    const outcome = await harness.engine.promote();
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/gates\.gone.*is used by the plan but not defined/s);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('an analysis with no evidence: its gate\'s onInconclusive decides at the end of the bake', () => {
  const plan = (gate = 'quiet'): Step[] => [provision, firstAll, { kind: 'pause', durationMs: 3000, analysis: [gate] }, { kind: 'hook', hook: 'postDeploy' }];

  it('pass: a warning that says so, and the deploy goes on', async () => {
    const harness = harnessFor(plan(), { stable: null, config: { gates: { quiet: noEvidence('pass') } } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(messages(harness, 'warn')).toContainEqual(
      expect.stringMatching(/^Analysis "quiet" was inconclusive: .*no stable revision \(no conclusive result in the whole bake\)\. onInconclusive: pass, so the deploy goes on/),
    );
  });

  it('rollback: a failure, after the whole bake', async () => {
    const harness = harnessFor(plan(), { stable: null, config: { gates: { quiet: noEvidence('rollback') } } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Analysis "quiet" was inconclusive: .*onInconclusive: rollback, so the deploy rolls back/);
    expect(messages(harness, 'warn').some((m) => m.includes('was inconclusive'))).toBe(false);
  });

  it('pause (the default): the deploy waits for a person, and `zdd promote` lets it go on', async () => {
    const harness = harnessFor(plan(), { stable: null, config: { gates: { quiet: noEvidence() } } });
    const paused = when(harness, (e) => e.type === 'paused');
    const running = deploy(harness);
    await paused;
    expect(messages(harness, 'paused')).toEqual([expect.stringMatching(/^Analysis "quiet" was inconclusive: .*onInconclusive: pause \(the default\), so the deploy waits/)]);
    expect((await harness.latest())?.status).toBe('paused');
    expect(harness.fakeState().calls.some((c) => c.method === 'retire')).toBe(false);
    await harness.engine.promote();
    const outcome = await running;
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect((await harness.latest())?.status).toBe('succeeded');
    expect(messages(harness, 'warn').some((m) => m.includes('was inconclusive'))).toBe(false);
  });
});

describe('a gate with no evidence', () => {
  const plan: Step[] = [provision, { kind: 'gate', gate: 'quiet' }, firstAll];

  it('pass: warns and goes on to the shift', async () => {
    const harness = harnessFor(plan, { stable: null, config: { gates: { quiet: noEvidence('pass') } } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    // A gate decides at its first inconclusive measurement (a bake waits for its end).
    expect(messages(harness, 'warn')).toContainEqual(expect.stringMatching(/^Gate "quiet" was inconclusive: .*no stable revision\. onInconclusive: pass, so the deploy goes on/));
    expect(weightWrites(harness)).toEqual([{ v2: 100 }]);
  });

  it('pause (the default): waits at the gate, before any traffic, until promoted', async () => {
    const harness = harnessFor(plan, { stable: null, config: { gates: { quiet: noEvidence() } } });
    const paused = when(harness, (e) => e.type === 'paused');
    const running = deploy(harness);
    await paused;
    expect(messages(harness, 'paused')).toEqual([expect.stringMatching(/^Gate "quiet" was inconclusive: .*the deploy waits/)]);
    expect(weightWrites(harness)).toEqual([]);
    await harness.engine.promote();
    expect((await running).exitCode).toBe(ExitCode.Ok);
    expect(weightWrites(harness)).toEqual([{ v2: 100 }]);
  });

  it('a failing gate fails the step, naming the gate', async () => {
    const harness = harnessFor([provision, { kind: 'gate', gate: 'bad' }, firstAll], { stable: null, config: { gates: { bad: { checks: [{ type: 'command', run: 'exit 1' }] } } } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Gate "bad" failed: check .* failed/);
    expect(weightWrites(harness).filter((w) => w.v2 > 0)).toEqual([]);
  });
});

describe('a manual pause', () => {
  const plan: Step[] = [provision, half, { kind: 'pause' }, all];

  it('says where traffic is, checkpoints "paused", and goes on when promoted; the record runs again', async () => {
    const harness = harnessFor(plan);
    const paused = when(harness, (e) => e.type === 'paused');
    const running = deploy(harness);
    await paused;
    expect(harness.events.filter((e) => e.type === 'paused')).toEqual([
      expect.objectContaining({ index: 2, message: expect.stringMatching(/^Paused at .*50%.*Run `zdd promote` to go on or `zdd abort` to roll back\.$/) }),
    ]);
    expect((await harness.latest())?.status).toBe('paused');
    expect(weightWrites(harness)).toEqual([{ v1: 50, v2: 50 }]);
    const seen: string[] = [];
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.index === 3) harness.latest().then((r) => seen.push(r?.status ?? 'none'));
    });
    await harness.engine.promote();
    const outcome = await running;
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(seen).toEqual(['running']);
    expect(weightWrites(harness)).toEqual([{ v1: 50, v2: 50 }, { v1: 0, v2: 100 }]);
    const record = await harness.latest();
    expect(record?.status).toBe('succeeded');
    expect(record?.promoteRequested).toBeUndefined();
  });

  it('--until-pause: the command ends at the pause (exit 6) with the record paused there; a later promote goes on from it', async () => {
    const harness = harnessFor(plan);
    const outcome = await deploy(harness, { stopAtPause: true });
    expect(outcome.exitCode).toBe(ExitCode.Paused);
    const record = await harness.latest();
    expect(record).toMatchObject({ status: 'paused', stepIndex: 2 });
    expect(weightWrites(harness)).toEqual([{ v1: 50, v2: 50 }]);
    const resumed = await harness.engine.promote();
    expect(resumed.exitCode).toBe(ExitCode.Ok);
    expect(weightWrites(harness)).toEqual([{ v1: 50, v2: 50 }, { v1: 0, v2: 100 }]);
  });

  it('in a rollback plan it is refused (nobody can promote a rollback): the rollback fails naming the plan error', async () => {
    const harness = harnessFor([provision, half, { kind: 'gate', gate: 'bad' }], {
      rollback: [{ kind: 'pause' }, { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }],
      config: { gates: { bad: { checks: [{ type: 'command', run: 'exit 1' }] } } },
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(/A manual pause cannot be part of a rollback plan/);
    expect(harness.events.some((e) => e.type === 'paused')).toBe(false);
  });
});
