import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step, Strategy } from '../../src/index.js';
import { rollbackPlan } from '../../strategies/index.js';
import { createHarness, type Harness } from './engine-harness.js';

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

function strategyOf(steps: Step[], rollback?: Step[]): Strategy {
  return {
    name: 'custom',
    description: 'a test plan',
    requires: [],
    plan: () => ({ strategy: 'custom', steps }),
    rollback: (input) => (rollback ? { strategy: 'custom', steps: rollback } : rollbackPlan('custom', input)),
  };
}

function harnessFor(steps: Step[], opts: Parameters<typeof createHarness>[0] & { rollback?: Step[] } = {}): Harness {
  h = createHarness({ ...opts, config: { ...opts.config, strategies: { plugins: { custom: strategyOf(steps, opts.rollback) } } } });
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

  it('a retire step with no time to keep stops the revision now and records it stopped', async () => {
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
    const failed = harness.events.find((e) => e.type === 'step.done' && e.index === 1);
    expect(failed).toBeDefined();
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
