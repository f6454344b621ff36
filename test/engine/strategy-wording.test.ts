import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step, Strategy } from '../../src/index.js';
import { rollbackPlan } from '../../strategies/index.js';
import { createHarness, type Harness } from './engine-harness.js';

let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

/** A plugin strategy that speaks of warm-ups, not deploys; `extra` steps go before the final shift. */
function warmup(extra: Step[] = [], rollbacks: string[] = []): Strategy {
  return {
    name: 'warmup',
    description: 'all at once, spoken of as a warm-up',
    requires: [],
    plan: (input) => ({
      strategy: 'warmup',
      steps: [{ kind: 'provision', role: 'candidate', replicas: input.replicas }, ...extra, { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } }],
    }),
    rollback: (input) => {
      rollbacks.push(input.record.id);
      return rollbackPlan('warmup', input);
    },
    undoneByOwnRollback: true,
    wording: {
      noun: 'Warm-up',
      run: 'warm-up',
      subject: (r) => `Warm-up of ${r.candidate.id}`,
      succeeded: (r) => `Warmed ${r.candidate.id} up.`,
      whereAfterRollback: (r) => `Still cold: ${r.stable?.id} serves.`,
      rolledBack: (r) => `Warm-up ${r.id} undone.`,
    },
  };
}

describe('a strategy supplies its own outcome wording (the engine names no strategy)', () => {
  it('a finished run says what the strategy says, and `zdd rollback` after it runs the strategy\'s own rollback plan', async () => {
    const rollbacks: string[] = [];
    h = createHarness({ config: { strategies: { plugins: { warmup: warmup([], rollbacks) } } } });
    const done = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'warmup', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(done.exitCode).toBe(ExitCode.Ok);
    expect(done.message).toBe('Warmed v2 up.');

    const undone = await h.engine.rollback({ abortOnly: false, lockWaitMs: 0 });
    expect(undone.exitCode).toBe(ExitCode.Ok);
    expect(undone.message).toBe(`Warm-up ${done.record!.id} undone.`);
    // Its own rollback plan, not a restore run: the same record, rolled back; traffic on v1 again.
    expect(rollbacks).toEqual([done.record!.id]);
    expect((await h.latest())?.status).toBe('rolled-back');
    expect((await h.latest())?.rollback?.reason).toBe('manual rollback of a finished warm-up');
    expect(h.fakeState().weights).toEqual({ v1: 100 });
  });

  it('a failed run is named by the strategy, and where production is after its rollback too', async () => {
    h = createHarness({ config: { strategies: { plugins: { warmup: warmup([{ kind: 'scale', role: 'stable', replicas: 0 }]) } } } });
    const failed = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'warmup', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(failed.exitCode).toBe(ExitCode.RolledBack);
    expect(failed.message).toMatch(/^Warm-up of v2 failed at step 2\/3 \(scale stable to 0 instances\): Refusing to scale stable v1 to 0/);
    expect(failed.message).toMatch(/\nRolled back\. Still cold: v1 serves\.$/);
  });

  it('without wording, a plugin strategy\'s runs read as deploys', async () => {
    const { wording: _w, undoneByOwnRollback: _u, ...plain } = warmup();
    h = createHarness({ config: { strategies: { plugins: { warmup: plain } } } });
    const done = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'warmup', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(done.message).toBe('Deployed v2: it serves 100% of production.');
  });
});
