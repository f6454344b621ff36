import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckFailedError, ConfigError, ProviderError } from '../../src/core/errors.js';
import type { ZddEvent } from '../../src/core/events.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { flagRampSteps, flagRestoreSteps } from '../../src/flags/flag-plan.js';
import { FlagKilledError } from '../../src/flags/flag-provider.js';
import { preflightFlags, runFlagStep, type FlagStepDeps } from '../../src/flags/flag-step.js';
import { OpenFeatureFileFlagProvider } from '../../src/flags/openfeature-file-flags.js';

/** Flag steps and their planners, on a real flagd file (the provider is the real one, not a fake). */

describe('flag plans', () => {
  it('ramps with a bake after each step but a final 100%', () => {
    expect(flagRampSteps('f', { steps: [10, 50, 100], pauseMs: 60_000, analysis: ['analysis'] })).toEqual([
      { kind: 'flag', flag: 'f', action: 'rollout', percent: 10 },
      { kind: 'pause', durationMs: 60_000, analysis: ['analysis'] },
      { kind: 'flag', flag: 'f', action: 'rollout', percent: 50 },
      { kind: 'pause', durationMs: 60_000, analysis: ['analysis'] },
      { kind: 'flag', flag: 'f', action: 'rollout', percent: 100 },
    ]);
    expect(flagRampSteps('f', { steps: [5, 20], pauseMs: 1000, analysis: [] }).at(-1)).toEqual({ kind: 'pause', durationMs: 1000 });
  });

  it('restores only flags the deploy recorded, newest first', () => {
    const plan = [...flagRampSteps('a', { steps: [10], pauseMs: 0, analysis: [] }), ...flagRampSteps('b', { steps: [10], pauseMs: 0, analysis: [] })];
    const before = { flag: 'a', environment: 'e', enabled: false, rollout: null, stickiness: 'default', groupId: 'a', constraints: [] };
    expect(flagRestoreSteps({ plan } as DeploymentRecord)).toEqual([]);
    expect(flagRestoreSteps({ plan, flags: { a: { before } } } as unknown as DeploymentRecord)).toEqual([{ kind: 'flag', flag: 'a', action: 'restore' }]);
    expect(flagRestoreSteps({ plan, flags: { a: { before }, b: { before: { ...before, flag: 'b' } } } } as unknown as DeploymentRecord).map((s) => (s as { flag: string }).flag)).toEqual(['b', 'a']);
  });
});

describe('flag steps', () => {
  let dir: string;
  let flags: OpenFeatureFileFlagProvider;
  let record: DeploymentRecord;
  let saved: string[];
  let events: ZddEvent[];
  let deps: FlagStepDeps;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-flag-step-'));
    const path = join(dir, 'flags.json');
    writeFileSync(path, JSON.stringify({ flags: { checkout: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } }));
    flags = new OpenFeatureFileFlagProvider(path);
    record = { plan: [], flags: undefined } as unknown as DeploymentRecord;
    saved = [];
    events = [];
    deps = {
      flags,
      release: { stickiness: 'accountId' },
      save: async () => void saved.push(JSON.stringify(record.flags)),
      events: { emit: (e) => void events.push(e) },
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('checkpoints the state before the first write, and restores exactly that (a flag already partly on)', async () => {
    const before = await flags.set('checkout', { enabled: true, rollout: 20, groupId: 'g1' });
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 50 }, record, deps);
    expect(saved).toHaveLength(1);
    expect(JSON.parse(saved[0]!).checkout.before).toEqual(before);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: 50, stickiness: 'accountId', groupId: 'checkout' });
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 100 }, record, deps);
    expect(saved).toHaveLength(1);
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toEqual(before);
  });

  it('a flag killed during the release stays off when restored; only its rollout goes back', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
    await flags.set('checkout', { enabled: true, rollout: 10 });
    record.flags!.checkout!.before = { ...record.flags!.checkout!.before, enabled: true, rollout: 5 };
    await flags.kill('checkout');
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false, rollout: 5 });
    expect(events.some((e) => e.type === 'warn' && /turned off during the release/.test(e.message))).toBe(true);
  });

  it("a flag zdd's own recorded `off` step turned off goes back on; one off while the record has no write of zdd's stays off", async () => {
    await flags.set('checkout', { enabled: true, rollout: 30 });
    const off = { kind: 'flag', flag: 'checkout', action: 'off' } as const;
    record.plan = [off];
    record.stepIndex = 0;
    await runFlagStep(off, record, deps);
    expect(record.flags!.checkout!.last).toMatchObject({ enabled: false });
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: 30 });
    // A run killed after its first write, before it recorded it: the kill switch since then is someone's.
    await flags.kill('checkout');
    record.flags!.checkout!.last = undefined;
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false, rollout: 30 });
  });

  it('a rollout after someone pulled the kill switch stops the release (nothing written), naming the flag and the way back', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
    await flags.kill('checkout');
    const killed = await flags.get('checkout');
    const err = await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 50 }, record, deps).catch((e) => e);
    // A kill interrupts the release (exit as an interruption, the flag kept off), it is no failed check.
    expect(err).toBeInstanceOf(FlagKilledError);
    expect(err.message).toMatch(/the kill switch: flag "checkout" was turned off in /);
    expect(await flags.get('checkout')).toEqual(killed);
  });

  it('off now and off as last recorded, but changed since: unsure, so the release stops keeping it off', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
    // The record is a write behind: it knows the flag off at 10%; the flag is off at 40% now.
    record.flags!.checkout!.last = { ...record.flags!.checkout!.last!, enabled: false };
    await flags.set('checkout', { enabled: false, rollout: 40, stickiness: 'accountId', groupId: 'checkout' });
    const err = await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 50 }, record, deps).catch((e) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toMatch(/Flag "checkout" is off in .* but not as zdd last recorded it/);
    expect(err.hint).toMatch(/run `zdd release` again/);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false, rollout: 40 });
  });

  it('off now exactly as last recorded: the next rollout goes on and turns it on', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
    await flags.set('checkout', { enabled: false, rollout: 10, stickiness: 'accountId', groupId: 'checkout' });
    record.flags!.checkout!.last = await flags.get('checkout');
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 50 }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: 50 });
  });

  it('every rollout carries the release settings; a constraint without an operator means IN; each write is announced read back', async () => {
    deps.release = { stickiness: 'userId', groupId: 'grp', constraints: [{ contextName: 'region', values: ['eu'] }, { contextName: 'tier', operator: 'NOT_IN', values: ['free'] }] };
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 25 }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({
      enabled: true,
      rollout: 25,
      stickiness: 'userId',
      groupId: 'grp',
      constraints: [
        { contextName: 'region', operator: 'IN', values: ['eu'] },
        { contextName: 'tier', operator: 'NOT_IN', values: ['free'] },
      ],
    });
    expect(events.filter((e) => e.type === 'info').map((e) => (e as { message: string }).message)).toEqual([expect.stringMatching(/^Flag "checkout" in .*flags\.json: .*25%.* \(read back\)$/)]);
    deps.release = undefined;
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 30 }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: 30 });
  });

  it('an off step kills the flag, and restore says what it put back', async () => {
    await flags.set('checkout', { enabled: true, rollout: 30 });
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'off' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false });
    events.length = 0;
    record.plan = [{ kind: 'flag', flag: 'checkout', action: 'off' }];
    record.stepIndex = 0;
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: 30 });
    expect(events.map((e) => [e.type, (e as { message: string }).message])).toEqual([['info', expect.stringMatching(/^Flag "checkout" in .*: .* \(read back\)$/)]]);
  });

  it('only an `off` step of this very flag, already run, counts as zdd turning it off; anything else is the kill switch', async () => {
    const cases: { plan: DeploymentRecord['plan']; stepIndex: number }[] = [
      { plan: [{ kind: 'flag', flag: 'other', action: 'off' }], stepIndex: 0 },
      { plan: [{ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }], stepIndex: 0 },
      { plan: [{ kind: 'pause', durationMs: 1 }, { kind: 'flag', flag: 'checkout', action: 'off' }], stepIndex: 0 },
    ];
    for (const c of cases) {
      await flags.set('checkout', { enabled: true, rollout: null });
      record = { plan: c.plan, stepIndex: c.stepIndex, flags: undefined } as unknown as DeploymentRecord;
      await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
      await flags.kill('checkout');
      record.flags!.checkout!.last = await flags.get('checkout');
      events.length = 0;
      await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
      expect(await flags.get('checkout'), JSON.stringify(c)).toMatchObject({ enabled: false, rollout: null });
      expect(events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message)).toEqual([
        'Flag "checkout" was turned off during the release (kill switch): it stays off; its rollout goes back to none',
      ]);
    }
  });

  it("zdd's own off step later in a ramp it ran: the flag goes back on", async () => {
    await flags.set('checkout', { enabled: true, rollout: null });
    const steps = [{ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, { kind: 'flag', flag: 'checkout', action: 'off' }] as const;
    record = { plan: [...steps], stepIndex: 1, flags: undefined } as unknown as DeploymentRecord;
    await runFlagStep(steps[0], record, deps);
    await runFlagStep(steps[1], record, deps);
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: true, rollout: null });
  });

  it('an off step after the kill switch was pulled simply keeps it off (no error)', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'rollout', percent: 10 }, record, deps);
    await flags.kill('checkout');
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'off' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false });
  });

  it('no flag service: the config error names every flag of the plan', async () => {
    const one = await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, { ...deps, flags: undefined }).catch((e) => e);
    expect(one).toBeInstanceOf(ConfigError);
    expect(one.message).toMatch(/flags: the plan sets flag "checkout" but no flag service is configured; add flags:/);
    const two = await preflightFlags([...flagRampSteps('a', { steps: [10], pauseMs: 0, analysis: [] }), ...flagRampSteps('b', { steps: [10], pauseMs: 0, analysis: [] })], undefined).catch((e) => e);
    expect(two.message).toMatch(/the plan sets flags "a", "b" but/);
    await expect(preflightFlags([{ kind: 'pause', durationMs: 1 }], undefined)).resolves.toBeUndefined();
  });

  it('restore of a flag never written does nothing; a missing flag fails preflight with exit 5; no flag service is a config error', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false, rollout: null });
    const plan = flagRampSteps('nope', { steps: [10], pauseMs: 0, analysis: [] });
    await expect(preflightFlags(plan, flags)).rejects.toSatisfy((e) => e instanceof ProviderError && e.exitCode === 5 && /Flag "nope" does not exist/.test(e.message));
    await expect(preflightFlags(plan, undefined)).rejects.toBeInstanceOf(ConfigError);
  });
});
