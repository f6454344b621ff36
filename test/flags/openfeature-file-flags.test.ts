import { FlagdCore } from '@openfeature/flagd-core';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { settingOf } from '../../src/flags/flag-provider.js';
import { OpenFeatureFileFlagProvider } from '../../src/flags/openfeature-file-flags.js';

/**
 * The openfeature-file flag provider writes flagd flag definitions; flagd's own evaluation library
 * (@openfeature/flagd-core, what flagd and its in-process providers run) judges what they mean.
 */

const USERS = 4000;

/** Share of USERS the written file turns the flag on for, as flagd evaluates it. */
function shareOn(path: string, flag: string, context: (i: number) => Record<string, string> = (i) => ({ targetingKey: `user-${i}` })): number {
  const core = new FlagdCore();
  core.setConfigurations(readFileSync(path, 'utf8'));
  let on = 0;
  for (let i = 0; i < USERS; i++) if (core.resolveBooleanEvaluation(flag, false, context(i)).value) on++;
  return on / USERS;
}

describe('openfeature-file flag provider (flagd-core evaluates the file)', () => {
  let dir: string;
  let path: string;
  let flags: OpenFeatureFileFlagProvider;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-flagd-'));
    path = join(dir, 'flags.flagd.json');
    writeFileSync(
      path,
      JSON.stringify({
        $schema: 'https://flagd.dev/schema/v0/flags.json',
        flags: {
          'new-checkout': { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
          'other-flag': { state: 'ENABLED', variants: { yes: true, no: false }, defaultVariant: 'yes', metadata: { owner: 'team-a' } },
        },
      }),
    );
    flags = new OpenFeatureFileFlagProvider(path);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a rollout that flagd evaluates to the intended share at each step, sticky per user', async () => {
    expect(shareOn(path, 'new-checkout')).toBe(0);
    let previouslyOn = new Set<number>();
    for (const pct of [10, 50, 100]) {
      const state = await flags.set('new-checkout', { enabled: true, rollout: pct });
      expect(state).toMatchObject({ enabled: true, rollout: pct, stickiness: 'default', groupId: 'new-checkout' });
      const share = shareOn(path, 'new-checkout');
      expect(Math.abs(share - pct / 100)).toBeLessThan(0.03);
      // Ramping up keeps everyone who already had the flag (same group id → same buckets).
      const core = new FlagdCore();
      core.setConfigurations(readFileSync(path, 'utf8'));
      const nowOn = new Set<number>();
      for (let i = 0; i < USERS; i++) if (core.resolveBooleanEvaluation('new-checkout', false, { targetingKey: `user-${i}` }).value) nowOn.add(i);
      for (const i of previouslyOn) expect(nowOn.has(i)).toBe(true);
      previouslyOn = nowOn;
    }
    // Other flags and fields are left as they were; no temp files are left behind.
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(file.flags['other-flag']).toEqual({ state: 'ENABLED', variants: { yes: true, no: false }, defaultVariant: 'yes', metadata: { owner: 'team-a' } });
    expect(file.$schema).toBe('https://flagd.dev/schema/v0/flags.json');
    expect(readdirSync(dir)).toEqual(['flags.flagd.json']);
  });

  it('limits the rollout to contexts matching the constraints', async () => {
    await flags.set('new-checkout', {
      enabled: true,
      rollout: 50,
      stickiness: 'accountId',
      constraints: [{ contextName: 'region', operator: 'IN', values: ['eu'] }],
    });
    const eu = shareOn(path, 'new-checkout', (i) => ({ targetingKey: `x${i}`, accountId: `acct-${i}`, region: 'eu' }));
    const us = shareOn(path, 'new-checkout', (i) => ({ targetingKey: `x${i}`, accountId: `acct-${i}`, region: 'us' }));
    expect(Math.abs(eu - 0.5)).toBeLessThan(0.03);
    expect(us).toBe(0);
    expect(await flags.get('new-checkout')).toMatchObject({ rollout: 50, stickiness: 'accountId', constraints: [{ contextName: 'region', operator: 'IN', values: ['eu'] }] });
  });

  it('kill turns it off for everyone; restoring the previous state brings back exactly the same users', async () => {
    const before = await flags.set('new-checkout', { enabled: true, rollout: 30 });
    const share30 = shareOn(path, 'new-checkout');
    await flags.set('new-checkout', { enabled: true, rollout: 70 });
    const killed = await flags.kill('new-checkout');
    expect(killed).toMatchObject({ enabled: false, rollout: 70 });
    expect(shareOn(path, 'new-checkout')).toBe(0);
    expect(await flags.set('new-checkout', settingOf(before))).toEqual(before);
    expect(shareOn(path, 'new-checkout')).toBe(share30);
  });

  it('an unknown flag, a missing file or foreign targeting is exit 5 naming the flag and the file, and the file is untouched', async () => {
    const original = readFileSync(path, 'utf8');
    const err = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ProviderError);
    const unknown = await err(flags.kill('nope'));
    expect(unknown).toBeInstanceOf(ProviderError);
    expect(unknown).toMatchObject({ exitCode: 5, changed: false });
    expect(unknown!.message).toBe(`Flag "nope" does not exist in the flag file ${path}`);
    const missing = await err(new OpenFeatureFileFlagProvider(join(dir, 'missing.json')).kill('new-checkout'));
    expect(missing!.message).toMatch(/Cannot read the flag file .*missing\.json for flag "new-checkout"/);
    expect(readFileSync(path, 'utf8')).toBe(original);
    const file = JSON.parse(original);
    file.flags['new-checkout'].targeting = { if: [{ '==': [{ var: 'email' }, 'a@b.c'] }, 'on', 'off'] };
    writeFileSync(path, JSON.stringify(file));
    const foreign = await err(flags.set('new-checkout', { enabled: true, rollout: 10 }));
    expect(foreign!.message).toMatch(/has targeting that zdd did not write/);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(file);
  });
});
