import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, ProviderError } from '../../src/core/errors.js';
import type { ZddEvent } from '../../src/core/events.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { flagRampSteps, flagRestoreSteps } from '../../src/flags/flag-plan.js';
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

  it('restore of a flag never written does nothing; a missing flag fails preflight with exit 5; no flag service is a config error', async () => {
    await runFlagStep({ kind: 'flag', flag: 'checkout', action: 'restore' }, record, deps);
    expect(await flags.get('checkout')).toMatchObject({ enabled: false, rollout: null });
    const plan = flagRampSteps('nope', { steps: [10], pauseMs: 0, analysis: [] });
    await expect(preflightFlags(plan, flags)).rejects.toSatisfy((e) => e instanceof ProviderError && e.exitCode === 5 && /Flag "nope" does not exist/.test(e.message));
    await expect(preflightFlags(plan, undefined)).rejects.toBeInstanceOf(ConfigError);
  });
});
