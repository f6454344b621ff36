import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { ExitCode } from '../../src/core/exit-codes.js';
import { describeStep, type Step } from '../../src/core/plan.js';
import type { FlagProvider, FlagSetting, FlagState } from '../../src/flags/flag-provider.js';
import { OpenFeatureFileFlagProvider } from '../../src/flags/openfeature-file-flags.js';
import { releaseFlag } from '../../src/flags/flag-release.js';
import { createHarness, type Harness } from '../engine/engine-harness.js';

/**
 * Flag steps run by the real engine: the flag service is a real flagd file (openfeature-file
 * provider), traffic goes through the engine tests' fake provider, the clock is fast. Breaking the
 * harness (its fail file) breaks the flag service too.
 */

const FLAG = 'new-checkout';

/** The real file provider, failing every call while the harness's fail file exists. */
class BreakableFlags implements FlagProvider {
  readonly name = 'openfeature-file';
  /** Set once the harness directory exists. */
  inner!: OpenFeatureFileFlagProvider;
  failFile!: string;
  /** Runs before each call (tests land a kill switch at a chosen moment). */
  beforeCall?: (method: string) => Promise<void>;
  readonly calls: string[] = [];
  get environment(): string {
    return this.inner.environment;
  }
  private async guard(method: string): Promise<void> {
    this.calls.push(method);
    await this.beforeCall?.(method);
    if (existsSync(this.failFile)) throw new ProviderError(`flag service down (${method})`, { changed: method !== 'get' });
  }
  async get(flag: string): Promise<FlagState> {
    await this.guard('get');
    return this.inner.get(flag);
  }
  async set(flag: string, s: FlagSetting): Promise<FlagState> {
    await this.guard('set');
    return this.inner.set(flag, s);
  }
  async kill(flag: string): Promise<FlagState> {
    await this.guard('kill');
    return this.inner.kill(flag);
  }
}

const HYBRID = {
  hybrid: {
    deploy: 'rolling',
    rolling: { batchSize: 1, pause: '5s' },
    flags: [{ flag: FLAG, steps: [10, 50, 100], pause: '10s' }],
  },
};

function setup(strategies: Record<string, unknown> = {}): { h: Harness; flags: BreakableFlags; file: OpenFeatureFileFlagProvider } {
  const flags = new BreakableFlags();
  const h = createHarness({
    config: {
      flags: { provider: 'openfeature-file', path: 'flags.json' },
      strategies: {
        canary: { steps: [{ weight: 20, pause: '10s' }, { weight: 100 }] },
        rolling: { batchSize: 1, pause: '5s' },
        ...strategies,
      },
    },
    flags,
  });
  const path = join(h.dir, 'flags.json');
  writeFileSync(path, JSON.stringify({ flags: { [FLAG]: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } }));
  const file = new OpenFeatureFileFlagProvider(path);
  flags.inner = file;
  flags.failFile = h.failFile;
  return { h, flags, file };
}

let current: Harness | undefined;
afterEach(() => {
  current?.cleanup();
  current = undefined;
});

/** Indexes of rollback steps by kind, in the order they started. */
function rollbackOrder(h: Harness): Step['kind'][] {
  return h.events.flatMap((e) => (e.type === 'step.start' && e.phase === 'rollback' ? [e.step.kind] : []));
}

describe('zdd release: a flag ramp through the engine', () => {
  it('sets and reads back each step, baking in between, then records the release', async () => {
    const { h, file } = setup();
    current = h;
    // The flag file as each flag step left it (read when the step is done, before the run goes on).
    const seen: Promise<number | null>[] = [];
    h.bus.on((e) => {
      if (e.type === 'step.done' && e.step.kind === 'flag') seen.push(file.get(FLAG).then((s) => s.rollout));
    });
    const outcome = await releaseFlag(h.engine, { flag: FLAG, steps: [10, 50, 100], pauseMs: 60_000, analysis: ['analysis'], lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(outcome.message).toBe(`Released flag "${FLAG}": on, 100% (read back).`);
    expect(await Promise.all(seen)).toEqual([10, 50, 100]);
    const record = await h.latest();
    expect(record).toMatchObject({ strategy: 'flag-release', status: 'succeeded', weights: { stable: 100, candidate: 0 } });
    expect(record!.plan.map(describeStep)).toEqual([
      `flag "${FLAG}": on for 10%`,
      'bake 1m with analysis (analysis)',
      `flag "${FLAG}": on for 50%`,
      'bake 1m with analysis (analysis)',
      `flag "${FLAG}": on for 100%`,
    ]);
    expect(record!.flags![FLAG]!.before).toMatchObject({ enabled: false, rollout: null });
    // No traffic call at all.
    expect(h.fakeState().calls.filter((c) => c.method === 'setWeights')).toEqual([]);
    // `zdd rollback` after it puts the flag back as it was before the release.
    const back = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(back.exitCode).toBe(ExitCode.Ok);
    expect(await file.get(FLAG)).toMatchObject({ enabled: false, rollout: null });
    expect(h.fakeState().weights).toEqual({ v1: 100 });
  });

  it('a failing analysis mid-ramp turns the flag back to its exact previous state (already partly on) before anything else', async () => {
    const { h, file } = setup();
    current = h;
    const before = await file.set(FLAG, { enabled: true, rollout: 20, groupId: 'wave-1' });
    let flagSteps = 0;
    h.bus.on((e) => {
      if (e.type === 'step.done' && e.step.kind === 'flag') flagSteps++;
      if (e.type === 'bake.progress' && flagSteps === 2) writeFileSync(join(h.dir, 'FAIL'), 'x');
      if (e.type === 'rollback.start') h.heal();
    });
    const outcome = await releaseFlag(h.engine, { flag: FLAG, steps: [30, 60, 100], pauseMs: 60_000, analysis: ['analysis'], lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/^Release of flag "new-checkout" failed at step 4\/5 \(bake 1m with analysis \(analysis\)\): Analysis "analysis" failed/);
    expect(outcome.message).toContain('Flag "new-checkout": on, 20% (read back).');
    expect(rollbackOrder(h)).toEqual(['flag']);
    expect(await file.get(FLAG)).toEqual(before);
    expect((await h.latest())!.status).toBe('rolled-back');
  });

  it('a flag killed behind the release is never turned back on: the next step stops the run, the rollback keeps it off', async () => {
    const { h, flags, file } = setup();
    current = h;
    await file.set(FLAG, { enabled: true, rollout: 5 });
    let gets = 0;
    // Calls: preflight get, step 1 get (state before) + set 10%, then step 2 begins with a get: the
    // kill switch lands just before it.
    flags.beforeCall = async (method) => {
      if (method === 'get' && ++gets === 3) await file.kill(FLAG);
    };
    const outcome = await releaseFlag(h.engine, { flag: FLAG, steps: [10, 50, 100], pauseMs: 1000, analysis: [], lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Interrupted);
    expect(outcome.message).toMatch(/interrupted by the kill switch: flag "new-checkout" was turned off in flag file/);
    expect(await file.get(FLAG)).toMatchObject({ enabled: false, rollout: 5 });
    expect(flags.calls).toEqual(['get', 'get', 'set', 'get', 'get', 'set']);
    expect(h.events.some((e) => e.type === 'warn' && /turned off during the release/.test(e.message))).toBe(true);
  });

  it('unknown flag or a flag service that is down: exit 5 before anything changes', async () => {
    const { h, file } = setup();
    current = h;
    const unknown = await releaseFlag(h.engine, { flag: 'nope', steps: [10], pauseMs: 0, analysis: [], lockWaitMs: 0 }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ProviderError);
    expect((unknown as ProviderError).exitCode).toBe(5);
    expect((unknown as ProviderError).message).toContain('Flag "nope" does not exist in the flag file');
    expect(await h.latest()).toBeNull();
    h.breakEverything();
    const down = await releaseFlag(h.engine, { flag: FLAG, steps: [10], pauseMs: 0, analysis: [], lockWaitMs: 0 }).catch((e: unknown) => e);
    expect((down as ProviderError).exitCode).toBe(5);
    h.heal();
    expect(await file.get(FLAG)).toMatchObject({ enabled: false, rollout: null });
  });
});

describe('hybrid: code deploy then flag ramps, one plan, one rollback', () => {
  it('zdd plan shows the flag steps after the code reaches 100% and before stable is retired', async () => {
    const { h } = setup(HYBRID);
    current = h;
    const { steps } = await h.engine.plan({ candidate: { id: 'v2' }, strategy: 'hybrid' });
    const lines = steps.map(describeStep);
    const firstFlag = lines.indexOf(`flag "${FLAG}": on for 10%`);
    expect(firstFlag).toBeGreaterThan(0);
    expect(lines.slice(firstFlag, firstFlag + 5)).toEqual([
      `flag "${FLAG}": on for 10%`,
      'bake 10s with analysis (analysis)',
      `flag "${FLAG}": on for 50%`,
      'bake 10s with analysis (analysis)',
      `flag "${FLAG}": on for 100%`,
    ]);
    const lastShift = steps.map((s) => s.kind).lastIndexOf('shiftTraffic');
    expect(lastShift).toBeLessThan(firstFlag);
    expect(steps.at(-1)).toEqual({ kind: 'retire', role: 'stable' });
  });

  it('rolled back from every step index: the flag goes back first (exactly as before), then traffic to stable', async () => {
    const { h: probe } = setup(HYBRID);
    const n = (await probe.engine.plan({ candidate: { id: 'v2' }, strategy: 'hybrid' })).steps.length;
    probe.cleanup();
    expect(n).toBeGreaterThan(10);
    for (let i = 0; i < n; i++) {
      const { h, file } = setup(HYBRID);
      current = h;
      const before = await file.set(FLAG, { enabled: true, rollout: 5, stickiness: 'accountId' });
      h.bus.on((e) => {
        if (e.type === 'step.start' && e.phase === 'deploy' && e.index === i) h.breakEverything();
        if (e.type === 'rollback.start') h.heal();
      });
      const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'hybrid', rollbackOnFailure: true, lockWaitMs: 0 });
      const where = `hybrid step ${i + 1}/${n}`;
      expect(outcome.exitCode, where).toBe(ExitCode.RolledBack);
      expect(h.fakeState().weights, where).toEqual({ v1: 100 });
      expect(h.fakeState().revisions.v2?.running ?? false, where).toBe(false);
      expect(await file.get(FLAG), where).toEqual(before);
      const order = rollbackOrder(h);
      const record = await h.latest();
      if (record!.flags?.[FLAG]) {
        expect(order[0], where).toBe('flag');
        expect(order.filter((k) => k === 'flag'), where).toHaveLength(1);
      } else {
        expect(order, where).not.toContain('flag');
      }
      expect(record!.status, where).toBe('rolled-back');
      h.cleanup();
      current = undefined;
    }
  });

  it('a flag service down during the rollback: traffic still goes back to stable, exit 4 names the flag, and the next zdd rollback puts the flag back', async () => {
    const { h, flags, file } = setup(HYBRID);
    current = h;
    const before = await file.set(FLAG, { enabled: true, rollout: 5 });
    let flagSteps = 0;
    h.bus.on((e) => {
      if (e.type === 'step.done' && e.phase === 'deploy' && e.step.kind === 'flag') flagSteps++;
      // Analysis fails in the bake after 50%; the flag service is down from then on.
      if (e.type === 'bake.progress' && flagSteps === 2) {
        writeFileSync(h.failFile, 'x');
      }
      if (e.type === 'rollback.start' && !flags.failFile.endsWith('FLAGS-DOWN')) {
        h.heal();
        flags.failFile = join(h.dir, 'FLAGS-DOWN');
        writeFileSync(flags.failFile, 'x');
      }
    });
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'hybrid', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toContain('ROLLBACK FAILED');
    expect(outcome.message).toContain('flag service down');
    expect(outcome.message).toMatch(/last verified traffic: stable v1 100% \| candidate v2 0%/);
    expect(outcome.message).toContain('flag "new-checkout": last read back on, 50%; before the run on, 5%');
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    expect(await file.get(FLAG)).toMatchObject({ enabled: true, rollout: 50 });
    expect((await h.latest())!.status).toBe('rollback-failed');
    // Once the flag service is back, `zdd rollback` finishes the job, starting at the flag.
    rmSync(flags.failFile);
    const again = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(again.exitCode, again.message).toBe(ExitCode.Ok);
    expect(await file.get(FLAG)).toEqual(before);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    expect((await h.latest())!.status).toBe('rolled-back');
  });
});
