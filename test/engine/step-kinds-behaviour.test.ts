import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step } from '../../src/index.js';
import { createPlanHarness, type Harness } from './engine-harness.js';

/**
 * What each step kind and the step runner show the user and the provider, driven through the
 * engine by a user's strategy: the events and the record around each step, the drain time the
 * platform is given, what checks see of the run, the way a rollback retries (or does not), and the
 * words of a refused or unverified traffic shift.
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

const deploy = (harness: Harness) => harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'custom', rollbackOnFailure: true, lockWaitMs: 0 });
const provision: Step = { kind: 'provision', role: 'candidate', replicas: 2 };
const half: Step = { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } };
const all: Step = { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } };
const warnings = (harness: Harness) => harness.events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
const infos = (harness: Harness) => harness.events.filter((e) => e.type === 'info').map((e) => (e as { message: string }).message);
const calls = (harness: Harness, method: string) => harness.fakeState().calls.filter((c) => c.method === method).map((c) => c.args);
const failingGate = { bad: { checks: [{ type: 'command', run: 'exit 1' }] } };

describe('the step runner: events and the record around each step', () => {
  it('each step is announced with its place, its words and its phase, and done with its time on the clock', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 4000 }, all]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    const starts = harness.events.filter((e) => e.type === 'step.start') as unknown as { index: number; total: number; description: string; phase: string }[];
    expect(starts.map((e) => [e.index, e.total, e.phase])).toEqual([
      [0, 4, 'deploy'],
      [1, 4, 'deploy'],
      [2, 4, 'deploy'],
      [3, 4, 'deploy'],
    ]);
    expect(starts[1].description).toMatch(/50%/);
    const done = harness.events.filter((e) => e.type === 'step.done') as unknown as { index: number; total: number; durationMs: number; phase: string }[];
    expect(done.map((e) => [e.index, e.total, e.phase])).toEqual(starts.map((e) => [e.index, e.total, e.phase]));
    expect(done[2].durationMs).toBe(4000);
  });

  it('the record names the step in flight (and its phase) while it runs, and no step once it is done', async () => {
    const harness = harnessFor([provision, half, all]);
    const inFlight: unknown[] = [];
    harness.bus.on((e) => {
      if (e.type === 'step.start') harness.latest().then((r) => inFlight.push([e.index, r?.inFlight?.index, r?.inFlight?.phase, typeof r?.inFlight?.startedAt, r?.stepIndex]));
    });
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(inFlight).toEqual([
      [0, 0, 'deploy', 'string', 0],
      [1, 1, 'deploy', 'string', 1],
      [2, 2, 'deploy', 'string', 2],
    ]);
    const record = await harness.latest();
    expect(record?.inFlight).toBeUndefined();
    expect(record?.stepIndex).toBe(3);
  });

  it('a record that cannot be written during a deploy stops it with a message naming the store, the cause and what to check', async () => {
    const harness = harnessFor([provision, half, all]);
    harness.bus.on((e) => {
      if (e.type === 'step.done' && e.index === 1) {
        harness.store.records.save = async () => {
          throw new Error('EACCES: permission denied');
        };
      }
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toContain(`Could not write the deployment record to ${harness.store.location}: EACCES: permission denied`);
    expect(calls(harness, 'setWeights')).not.toContainEqual([{ v1: 0, v2: 100 }]);
  });
});

describe('step kinds as the platform sees them', () => {
  it('scale and retire hand the platform the configured drain time', async () => {
    const harness = harnessFor([provision, { kind: 'scale', role: 'candidate', replicas: 1 }, all, { kind: 'retire', role: 'stable' }]);
    const drains: unknown[] = [];
    const { platform } = harness.provider;
    const scale = platform.scale.bind(platform);
    const retire = platform.retire.bind(platform);
    platform.scale = async (id, n, opts) => {
      drains.push(['scale', id, opts?.drainMs]);
      return scale(id, n, opts);
    };
    platform.retire = async (id, opts) => {
      drains.push(['retire', id, opts?.drainMs]);
      return retire(id, opts);
    };
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(drains).toEqual([
      ['scale', 'v2', 1000],
      ['retire', 'v1', 1000],
    ]);
  });

  it('scaling to the count a revision already has does not wait for health again', async () => {
    const harness = harnessFor([provision, { kind: 'scale', role: 'candidate', replicas: 2 }, all]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(calls(harness, 'waitHealthy')).toEqual([['v2']]);
    expect(calls(harness, 'scale')).toEqual([['v2', 2]]);
  });

  it('a revision kept after its retire step: told until when, still running, and kept on the record', async () => {
    const harness = harnessFor([provision, all, { kind: 'retire', role: 'stable', afterMs: 600_000 }]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(infos(harness)).toContainEqual(expect.stringMatching(/^Keeping v1 until \S+ \(10m\) so rollback stays instant/));
    expect(calls(harness, 'retire')).toEqual([]);
    expect(harness.fakeState().revisions.v1.running).toBe(true);
    expect((await harness.latest())?.kept).toMatchObject({ role: 'stable', revision: { id: 'v1' } });
  });

  it('a retire step with no time to keep (0, or a negative time from a user\'s plan) stops the revision now and records it stopped', async () => {
    const negative = harnessFor([provision, all, { kind: 'retire', role: 'stable', afterMs: -1000 }]);
    expect((await deploy(negative)).exitCode).toBe(ExitCode.Ok);
    expect(calls(negative, 'retire')).toEqual([['v1']]);
    negative.cleanup();
    const harness = harnessFor([provision, all, { kind: 'retire', role: 'stable', afterMs: 0 }]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(calls(harness, 'retire')).toEqual([['v1']]);
    const record = await harness.latest();
    expect(record?.kept).toBeUndefined();
    expect(record?.replicas.stable).toBe(0);
    expect(record?.healthy).not.toContain('stable');
  });

  it('a provider without a test route: a step that removes the route does nothing, one that sets it fails naming the provider', async () => {
    const harness = harnessFor([provision, { kind: 'testRoute', role: null }, { kind: 'testRoute', role: 'candidate' }, all]);
    delete (harness.provider.router as { setTestRoute?: unknown }).setTestRoute;
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/Provider "fake" has no test route/);
    // The route removal (step 2) went through; the route to the candidate (step 3) failed.
    expect(harness.events.some((e) => e.type === 'step.done' && e.phase === 'deploy' && e.index === 1)).toBe(true);
    expect((await harness.latest())?.error).toMatchObject({ step: 2 });
  });

  it('a test route set to a healthy candidate is recorded; removing it records none', async () => {
    const harness = harnessFor([provision, { kind: 'testRoute', role: 'candidate' }, half]);
    const seen: unknown[] = [];
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.index === 2) harness.latest().then((r) => seen.push(r?.testRoute));
    });
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(seen).toEqual(['candidate']);
    expect(calls(harness, 'setTestRoute')).toEqual([['v2']]);
  });
});

describe('what checks see of the run', () => {
  it("a gate's command runs in the config's folder with the run's ZDD_* variables", async () => {
    const harness = harnessFor([provision, { kind: 'gate', gate: 'env' }, all], {
      config: { gates: { env: { checks: [{ type: 'command', run: 'test -f ./marker && test "$ZDD_CANDIDATE_REVISION" = v2 && test "$ZDD_STABLE_REVISION" = v1' }] } } },
    });
    writeFileSync(join(harness.dir, 'marker'), 'here');
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const record = await harness.latest();
    expect(JSON.stringify(record?.verdicts ?? [])).toContain('"gate":"env"');
  });
});

describe('the way back', () => {
  it('a rollback step is retried after 1 s, then 2 s on the clock', async () => {
    // The deploy's shift fails; the rollback's shift fails twice, then works.
    const harness = harnessFor([provision, half, all], { fake: { failures: [2, 3, 4].map((nth) => ({ method: 'setWeights' as const, nth, message: 'listener busy' })) } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings(harness).filter((m) => m.startsWith('Rollback step'))).toEqual([
      expect.stringMatching(/\(attempt 1\/3\): listener busy; retrying$/),
      expect.stringMatching(/\(attempt 2\/3\): listener busy; retrying$/),
    ]);
    const back = harness.events.find((e) => e.type === 'step.done' && e.phase === 'rollback' && (e as { step: Step }).step.kind === 'shiftTraffic') as { durationMs: number };
    expect(back.durationMs).toBe(3000);
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });

  it('a check that fails in a rollback is not retried: the rollback fails at once (exit 4)', async () => {
    const harness = harnessFor([provision, half, { kind: 'gate', gate: 'bad' }], {
      rollback: [{ kind: 'gate', gate: 'bad' }, { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }],
      config: { gates: failingGate },
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(warnings(harness).filter((m) => m.startsWith('Rollback step'))).toEqual([]);
    expect(outcome.message).toMatch(/Gate "bad" failed/);
  });

  it('a hook that fails in a rollback runs once, is told, and the rollback goes on', async () => {
    const harness = harnessFor([provision, half, { kind: 'gate', gate: 'bad' }], {
      rollback: [{ kind: 'hook', hook: 'onRollback' }, { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } }],
      // Hooks run in the config's folder: each run leaves a line there.
      config: { gates: failingGate, hooks: { onRollback: 'echo ran >> runs; exit 3' } },
    });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(readFileSync(join(harness.dir, 'runs'), 'utf8')).toBe('ran\n');
    expect(warnings(harness).filter((m) => m.startsWith('Rollback step'))).toEqual([]);
    expect(warnings(harness)).toContainEqual(expect.stringMatching(/\(rollback goes on\)$/));
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('a shift the router does not confirm', () => {
  it('names what the router reports and what zdd set, and rolls back', async () => {
    const harness = harnessFor([provision, half, all], { fake: { failures: [{ method: 'getWeights', mismatch: true }] } });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Router reports v1 49%, v2 49% after zdd set v1 50%, v2 50%/);
  });

  it('a revision the router serves that zdd did not set is a mismatch too', async () => {
    const harness = harnessFor([provision, half, all]);
    const getWeights = harness.provider.router.getWeights.bind(harness.provider.router);
    harness.provider.router.getWeights = async () => ({ ...(await getWeights()), 'web-by-hand': 5 });
    const outcome = await deploy(harness);
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Router reports v1 50%, v2 50%, web-by-hand 5% after zdd set v1 50%, v2 50%/);
  });

  it('a revision the router lists at 0% that zdd did not set is no mismatch', async () => {
    const harness = harnessFor([provision, half, all]);
    const getWeights = harness.provider.router.getWeights.bind(harness.provider.router);
    harness.provider.router.getWeights = async () => ({ ...(await getWeights()), 'web-old': 0 });
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
  });
});

describe('what the record and the events keep of a step', () => {
  it('a refused step is on the record with its reason code and its step (what `zdd status` shows)', async () => {
    const cases: [Step[], string, number][] = [
      [[provision, half, { kind: 'scale', role: 'stable', replicas: 0 }], 'unsafe-scale', 2],
      [[provision, half, { kind: 'retire', role: 'stable' }], 'unsafe-retire', 2],
      [[{ kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } }], 'unhealthy-target', 0],
      [[provision, { kind: 'shiftTraffic', weights: { stable: 60, candidate: 30 } }], 'bad-plan', 1],
      [[{ kind: 'testRoute', role: 'candidate' }], 'unhealthy-target', 0],
    ];
    for (const [plan, code, step] of cases) {
      const harness = harnessFor(plan);
      expect((await deploy(harness)).exitCode, code).toBe(ExitCode.RolledBack);
      expect((await harness.latest())?.error, code).toMatchObject({ code, step });
      harness.cleanup();
    }
    const harness = harnessFor([{ kind: 'scale', role: 'stable', replicas: 2 }], { stable: null });
    await deploy(harness);
    expect((await harness.latest())?.error).toMatchObject({ code: 'bad-plan', message: expect.stringMatching(/has no stable revision/) });
  });

  it('each verified shift is announced with the planned weights as well as the weights per revision', async () => {
    const harness = harnessFor([provision, half, all]);
    await deploy(harness);
    const traffic = harness.events.filter((e) => e.type === 'traffic') as unknown as { weights: unknown; byRevision: unknown }[];
    expect(traffic.map((e) => e.weights)).toEqual([
      { stable: 50, candidate: 50 },
      { stable: 0, candidate: 100 },
    ]);
  });

  it("a gate's measurements are announced as check events under the gate's name", async () => {
    const harness = harnessFor([provision, { kind: 'gate', gate: 'smoke' }, all]);
    await deploy(harness);
    const checks = harness.events.filter((e) => e.type === 'check') as unknown as { result: { gate: string; verdict: string } }[];
    expect(checks.map((e) => [e.result.gate, e.result.verdict])).toEqual([['smoke', 'pass']]);
  });

  it('the platform is given the health timeout and the run\'s signal when waiting for health', async () => {
    const harness = harnessFor([provision, all]);
    const seen: unknown[] = [];
    const { platform } = harness.provider;
    const waitHealthy = platform.waitHealthy.bind(platform);
    platform.waitHealthy = async (id, opts) => {
      seen.push([typeof opts?.timeoutMs, opts?.signal instanceof AbortSignal]);
      return waitHealthy(id, opts);
    };
    await deploy(harness);
    expect(seen).toEqual([['number', true]]);
  });

  it("a running hook's process group is on the record while it runs, and gone after", async () => {
    const harness = harnessFor([provision, { kind: 'hook', hook: 'postShift' }, all], { config: { hooks: { postShift: 'sleep 0.4' } } });
    const during: unknown[] = [];
    harness.bus.on((e) => {
      if (e.type === 'step.start' && e.index === 1) {
        // Real time: the hook is a real process; look at the record until it names it (or the hook ends).
        const look = async () => {
          for (let i = 0; i < 40; i++) {
            const r = await harness.latest();
            if (r?.hookProcess) return during.push(r.hookProcess.hook);
            await new Promise((res) => setTimeout(res, 10));
          }
        };
        void look();
      }
    });
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(during).toEqual(['postShift']);
    expect((await harness.latest())?.hookProcess).toBeUndefined();
  });
});

describe('traffic words', () => {
  it('a router that reports nothing after a shift: "Router reports nothing"', async () => {
    const harness = harnessFor([provision, half]);
    harness.provider.router.getWeights = async () => ({});
    const outcome = await deploy(harness);
    expect(outcome.message).toMatch(/Router reports nothing after zdd set v1 50%, v2 50%/);
  });

  it('changes behind zdd are listed by revision name, whatever order the router answers in', async () => {
    const harness = harnessFor([provision, half, { kind: 'pause', durationMs: 2000 }, all]);
    harness.bus.on((e) => {
      if (e.type === 'bake.progress' && e.index === 2 && e.elapsedMs === 0) {
        const s = harness.fakeState();
        s.weights = { v2: 40, v1: 60 };
        writeFileSync(harness.stateFile, JSON.stringify(s));
      }
    });
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(warnings(harness).filter((m) => m.startsWith('The router changed'))).toEqual([expect.stringContaining('v1 60% (zdd set 50%), v2 40% (zdd set 50%)')]);
  });

  it('a restore puts the revision it brings back first in what it says', async () => {
    const harness = harnessFor([provision, all, { kind: 'retire', role: 'stable', afterMs: 600_000 }]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    const before = harness.events.length;
    const outcome = await harness.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const traffic = harness.events.slice(before).filter((e) => e.type === 'traffic') as unknown as { byRevision: Record<string, number> }[];
    expect(traffic.map((e) => Object.entries(e.byRevision))).toEqual([
      [
        ['v1', 100],
        ['v2', 0],
      ],
    ]);
  });

  it('a damaged record that marks a missing stable healthy: a shift giving it weight is a plan error naming it', async () => {
    const harness = harnessFor([provision, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }, { kind: 'pause' }, { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } }], { stable: null });
    expect((await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'custom', rollbackOnFailure: true, lockWaitMs: 0, stopAtPause: true })).exitCode).toBe(ExitCode.Paused);
    const record = await harness.latest();
    if (!record) throw new Error('no record after the paused deploy');
    await harness.store.records.save({ ...record, healthy: [...record.healthy, 'stable'] });
    const outcome = await harness.engine.promote();
    expect(outcome.exitCode).not.toBe(ExitCode.Ok);
    expect(outcome.message).toMatch(/Plan error: stable has no revision but was given 50%/);
    expect(calls(harness, 'setWeights')).not.toContainEqual([{ v2: 50 }]);
  });

  it('retiring stable while the test route points at the candidate leaves the route alone', async () => {
    const harness = harnessFor([provision, { kind: 'testRoute', role: 'candidate' }, all, { kind: 'retire', role: 'stable' }]);
    expect((await deploy(harness)).exitCode).toBe(ExitCode.Ok);
    expect(calls(harness, 'setTestRoute')).toEqual([['v2']]);
    expect((await harness.latest())?.testRoute).toBe('candidate');
  });

  it('a kept revision is kept until its time is up, counted from now', async () => {
    const harness = harnessFor([provision, all, { kind: 'retire', role: 'stable', afterMs: 600_000 }]);
    await deploy(harness);
    const kept = (await harness.latest())?.kept;
    expect(Date.parse(kept!.retireAt) - harness.clock.now()).toBeGreaterThan(590_000);
  });
});
