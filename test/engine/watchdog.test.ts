import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Watchdog } from '../../src/core/state.js';
import { createHarness, type Harness } from './engine-harness.js';

let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

/**
 * A deploy whose process died in its bake at 20%, after which the router no longer holds 20%
 * (a provider's watchdog put stable back): `promote` goes back to the shift and says why, naming
 * the watchdog the provider declares (the engine names none of its own).
 */
async function resumeAfterTrafficMoved(watchdog?: Watchdog): Promise<{ warning: string; exitCode: number }> {
  h = createHarness({ fake: watchdog ? { capabilities: { watchdog } } : {}, config: { strategies: { canary: { steps: [{ weight: 20, pause: {} }, { weight: 100 }] } } } });
  const paused = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0, stopAtPause: true });
  expect(paused.exitCode).toBe(ExitCode.Paused);
  // Its process died during a timed bake (not a manual pause), and the watchdog restored stable.
  const record = (await h.latest())!;
  const bake = record.plan.findIndex((s, i) => i >= record.stepIndex && s.kind === 'pause');
  record.plan[bake] = { ...record.plan[bake], kind: 'pause', durationMs: 10_000 } as (typeof record.plan)[number];
  await h.store.records.save({ ...record, status: 'running', stepIndex: bake });
  writeFileSync(h.stateFile, JSON.stringify({ ...h.fakeState(), weights: { v1: 100 } }));

  const outcome = await h.engine.promote();
  const warning = h.events.find((e) => e.type === 'warn' && e.message.includes('last verified'));
  return { warning: warning?.type === 'warn' ? warning.message : '', exitCode: outcome.exitCode };
}

describe("a provider's watchdog, named through its declared capability", () => {
  it('promote after the watchdog moved traffic: back to the last shift, naming the watchdog', async () => {
    const { warning, exitCode } = await resumeAfterTrafficMoved({ name: 'the test watchdog', action: 'puts traffic back on stable' });
    expect(warning).toMatch(/^The router holds v1 100%, not the v1 80% \| v2 20% deploy \S+ last verified: it changed after that deploy's process died \(the test watchdog puts traffic back on stable\)\. Going back to step \d+ /);
    expect(exitCode).toBe(ExitCode.Ok);
  });

  it('without a declared watchdog the same warning names none', async () => {
    const { warning } = await resumeAfterTrafficMoved();
    expect(warning).toMatch(/it changed after that deploy's process died\. Going back to step/);
  });
});

describe('the local provider declares its dead-man\'s switch as its watchdog', () => {
  it('when the switch is on (the default), and not when it is off', async () => {
    const { localProvider } = await import('../../src/providers/local/local-provider.js');
    const { localProviderSchema } = await import('../../src/providers/local/schema.js');
    const { DEAD_MANS_SWITCH } = await import('../../src/providers/local/router-state.js');
    const { systemClock } = await import('../../src/core/clock.js');
    const ctx = { service: 'web', configDir: '/tmp', stateDir: '/tmp/.zdd', env: undefined, clock: systemClock, events: { emit: () => {} }, options: {} };
    const on = await localProvider.create(localProviderSchema.parse({ type: 'local', command: 'node app.mjs' }), ctx);
    const off = await localProvider.create(localProviderSchema.parse({ type: 'local', command: 'node app.mjs', deadMansSwitch: false }), ctx);
    expect(on.capabilities.watchdog).toEqual(DEAD_MANS_SWITCH);
    expect(DEAD_MANS_SWITCH.name).toBe("the local router's dead-man's switch");
    expect(off.capabilities.watchdog).toBeUndefined();
    await Promise.all([on.close?.(), off.close?.()]);
  });
});
