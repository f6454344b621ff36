import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { settingOf } from '../../src/flags/flag-provider.js';
import { UnleashFlagProvider, ZDD_STRATEGY_TITLE } from '../../src/flags/unleash-flags.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeProject, runZdd, type Project } from '../cli/cli-harness.js';
import { freePort } from '../helpers/moto.js';
import { skipWithoutPostgres } from '../helpers/postgres.js';
import { startUnleash, type Unleash } from '../helpers/unleash.js';

/**
 * The unleash flag provider and `zdd flag kill` against a real Unleash 6 server (npm
 * `unleash-server`) on its own PostgreSQL cluster. Every state is checked twice: through the
 * provider's read-back and through the test's own Admin API call.
 */

const skip = skipWithoutPostgres();
const ENV = 'production';

interface RawFeature {
  environments: { name: string; enabled: boolean; strategies: { title?: string | null; name: string; parameters: Record<string, string>; constraints: unknown[] }[] }[];
}

describe.skipIf(skip)('unleash flag provider (real Unleash server)', () => {
  let unleash: Unleash;
  let flags: UnleashFlagProvider;
  let counter = 0;

  beforeAll(async () => {
    unleash = await startUnleash();
    await unleash.api('POST', '/api/admin/context', { name: 'region', stickiness: false });
    flags = new UnleashFlagProvider({ provider: 'unleash', url: unleash.url, environment: ENV, tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN' }, { ZDD_TEST_UNLEASH_TOKEN: unleash.token });
  }, 180_000);
  afterAll(async () => {
    await flags?.close();
    await unleash?.stop();
  }, 60_000);

  async function newFlag(): Promise<string> {
    const name = `checkout-${++counter}`;
    await unleash.api('POST', '/api/admin/projects/default/features', { name, type: 'release' });
    return name;
  }

  async function raw(flag: string) {
    const f = await unleash.api<RawFeature>('GET', `/api/admin/projects/default/features/${flag}`);
    return f.environments.find((e) => e.name === ENV)!;
  }

  it('sets the rollout and reads it back at each step of a ramp', async () => {
    const flag = await newFlag();
    expect(await flags.get(flag)).toMatchObject({ enabled: false, rollout: null });
    for (const pct of [10, 50, 100]) {
      const state = await flags.set(flag, { enabled: true, rollout: pct });
      expect(state).toMatchObject({ flag, environment: ENV, enabled: true, rollout: pct, stickiness: 'default', groupId: flag });
      const env = await raw(flag);
      expect(env.enabled).toBe(true);
      const mine = env.strategies.filter((s) => s.title === ZDD_STRATEGY_TITLE);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ name: 'flexibleRollout', parameters: { rollout: String(pct), stickiness: 'default', groupId: flag } });
    }
  });

  it('writes constraints, stickiness and group id, and reads them back', async () => {
    const flag = await newFlag();
    const constraints = [
      { contextName: 'userId', operator: 'IN' as const, values: ['alice', 'bob'] },
      { contextName: 'region', operator: 'NOT_IN' as const, values: ['us-east'] },
    ];
    const state = await flags.set(flag, { enabled: true, rollout: 25, stickiness: 'sessionId', groupId: 'checkout-wave', constraints });
    expect(state).toMatchObject({ enabled: true, rollout: 25, stickiness: 'sessionId', groupId: 'checkout-wave', constraints });
    const [mine] = (await raw(flag)).strategies;
    expect(mine!.parameters).toMatchObject({ rollout: '25', stickiness: 'sessionId', groupId: 'checkout-wave' });
    expect(mine!.constraints).toEqual([
      expect.objectContaining({ contextName: 'userId', operator: 'IN', values: ['alice', 'bob'] }),
      expect.objectContaining({ contextName: 'region', operator: 'NOT_IN', values: ['us-east'] }),
    ]);
  });

  it('restores the exact previous state of a flag that was already partly on, and leaves other strategies alone', async () => {
    const flag = await newFlag();
    // The user's own strategy on the flag: zdd must never touch it.
    await unleash.api('POST', `/api/admin/projects/default/features/${flag}/environments/${ENV}/strategies`, { name: 'default', title: 'staff', constraints: [{ contextName: 'userId', operator: 'IN', values: ['staff'] }], parameters: {} });
    const before = await flags.set(flag, { enabled: true, rollout: 30, constraints: [{ contextName: 'region', operator: 'IN', values: ['eu'] }] });
    await flags.set(flag, { enabled: true, rollout: 80 });
    await flags.kill(flag);
    const restored = await flags.set(flag, settingOf(before));
    expect(restored).toEqual(before);
    const env = await raw(flag);
    expect(env.enabled).toBe(true);
    expect(env.strategies.map((s) => s.title).sort()).toEqual(['staff', ZDD_STRATEGY_TITLE]);
    expect(env.strategies.find((s) => s.title === ZDD_STRATEGY_TITLE)!.parameters.rollout).toBe('30');
  });

  it('restores a flag that had no zdd rollout by removing it, leaving the flag off', async () => {
    const flag = await newFlag();
    const before = await flags.get(flag);
    await flags.set(flag, { enabled: true, rollout: 50 });
    const restored = await flags.set(flag, settingOf(before));
    expect(restored).toEqual(before);
    expect((await raw(flag)).strategies.filter((s) => s.title === ZDD_STRATEGY_TITLE)).toEqual([]);
  });

  it('kill turns the flag off with one call, read back, keeping the rollout for later', async () => {
    const flag = await newFlag();
    await flags.set(flag, { enabled: true, rollout: 40 });
    const t0 = performance.now();
    const state = await flags.kill(flag);
    const ms = performance.now() - t0;
    expect(state).toMatchObject({ enabled: false, rollout: 40 });
    expect((await raw(flag)).enabled).toBe(false);
    expect(ms).toBeLessThan(1000);
  });

  it('unknown flag, refused token and unreachable server: exit 5, named flag and environment, nothing changed, no token', async () => {
    const flag = await newFlag();
    await flags.set(flag, { enabled: true, rollout: 20 });
    const expectFlagError = async (p: Promise<unknown>, re: RegExp, name: string) => {
      const e = await p.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ProviderError);
      const pe = e as ProviderError;
      expect(pe.exitCode).toBe(5);
      expect(pe.changed).toBe(false);
      expect(pe.message).toMatch(re);
      expect(pe.message).toContain(`"${name}"`);
      expect(pe.message).toContain(ENV);
      expect(`${pe.message} ${pe.hint}`).not.toContain(unleash.token);
      expect(`${pe.message} ${pe.hint}`).not.toContain('zdd-test-admin-token');
    };
    await expectFlagError(flags.kill('no-such-flag'), /does not exist/, 'no-such-flag');
    await expectFlagError(flags.set('no-such-flag', { enabled: true, rollout: 10 }), /does not exist/, 'no-such-flag');
    const badToken = new UnleashFlagProvider({ provider: 'unleash', url: unleash.url, environment: ENV, tokenEnv: 'T' }, { T: '*:*.wrong-secret' });
    await expectFlagError(badToken.kill(flag), /refused the token in T \(HTTP 401\)/, flag);
    await expectFlagError(badToken.set(flag, { enabled: false, rollout: null }), /refused the token/, flag);
    const noToken = new UnleashFlagProvider({ provider: 'unleash', url: unleash.url, environment: ENV, tokenEnv: 'T' }, {});
    await expectFlagError(noToken.kill(flag), /T is not set/, flag);
    const port = await freePort();
    const down = new UnleashFlagProvider({ provider: 'unleash', url: `http://127.0.0.1:${port}`, environment: ENV, tokenEnv: 'T', timeout: 2000 }, { T: unleash.token });
    await expectFlagError(down.kill(flag), /unreachable/, flag);
    await expectFlagError(flags.set(flag, { enabled: true, rollout: 20, constraints: [{ contextName: 'planet', operator: 'IN', values: ['mars'] }] }), /context field with name planet/i, flag);
    const wrongEnv = new UnleashFlagProvider({ provider: 'unleash', url: unleash.url, environment: 'staging', tokenEnv: 'T' }, { T: unleash.token });
    await expect(wrongEnv.kill(flag)).rejects.toThrow(/no environment "staging"/);
    // Nothing above changed the flag.
    expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 20 });
  });

  describe('zdd flag kill (built binary)', () => {
    // A plain JSON config on a machine with no .zdd state: the kill switch needs nothing else.
    let dir: string;
    const project = {
      run: (args: string[], o: { env?: Record<string, string> } = {}) => runZdd(args, dir, o.env),
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'zdd-flag-kill-'));
      const config = {
        service: 'web',
        provider: { type: 'local', command: 'node server.js' },
        flags: { provider: 'unleash', url: unleash.url, environment: ENV, tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN' },
      };
      writeFileSync(join(dir, 'deploy.config.json'), JSON.stringify(config, null, 2));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('turns the flag off with one call, read back, from a machine that never ran a release (the time is printed; targets live in the bench)', async () => {
      const flag = await newFlag();
      await flags.set(flag, { enabled: true, rollout: 60 });
      const t0 = performance.now();
      const r = await project.run(['flag', 'kill', flag], { env: { ZDD_TEST_UNLEASH_TOKEN: unleash.token } });
      const wallMs = Math.round(performance.now() - t0);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(existsSync(join(dir, '.zdd'))).toBe(false);
      const m = /read back (\d+)ms after the command started, (\d+)ms of it with unleash/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(r.stdout).toContain(`Flag "${flag}" is OFF in ${ENV}`);
      expect((await raw(flag)).enabled).toBe(false);
      expect(await flags.get(flag)).toMatchObject({ enabled: false, rollout: 60 });
      console.log(`zdd flag kill: ${m![1]}ms from command start to flag off (read back), ${m![2]}ms of it the Unleash call and read-back; ${wallMs}ms wall time including node start`);
    });

    it('exits 5 naming the flag and environment for an unknown flag, a refused token and a missing token; never prints the token', async () => {
      const flag = await newFlag();
      await flags.set(flag, { enabled: true, rollout: 35 });
      const unknown = await project.run(['flag', 'kill', 'nope-flag'], { env: { ZDD_TEST_UNLEASH_TOKEN: unleash.token } });
      expect(unknown.code).toBe(5);
      expect(unknown.stdout + unknown.stderr).toMatch(/Flag "nope-flag" does not exist in Unleash project "default" \(environment "production"/);
      const refused = await project.run(['flag', 'kill', flag, '--json'], { env: { ZDD_TEST_UNLEASH_TOKEN: '*:*.not-the-token' } });
      expect(refused.code).toBe(5);
      expect(refused.stdout + refused.stderr).toContain(`flag "${flag}" in Unleash environment "production"`);
      expect(refused.stdout + refused.stderr).not.toContain('not-the-token');
      const missing = await project.run(['flag', 'kill', flag], { env: {} });
      expect(missing.code).toBe(5);
      expect(missing.stdout + missing.stderr).toMatch(/ZDD_TEST_UNLEASH_TOKEN is not set/);
      for (const r of [unknown, refused, missing]) expect(r.stdout + r.stderr).not.toContain(unleash.token);
      expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 35 });
    });
  });

  describe('zdd release (built binary, fake traffic provider, real Unleash)', () => {
    let project: Project;
    const env = () => ({ ZDD_TEST_UNLEASH_TOKEN: unleash.token });
    beforeAll(() => {
      project = makeProject({
        extra: `flags: { provider: 'unleash', url: ${JSON.stringify(unleash.url)}, environment: '${ENV}', tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN', release: { stickiness: 'userId' } },`,
      });
    });
    afterAll(() => project?.cleanup());

    it('ramps the flag step by step with read-back, status shows it, and rollback restores the flag as before', async () => {
      const flag = await newFlag();
      const r = await project.run(['release', flag, '--steps', '25,100', '--pause', '10s'], { env: env(), fastClock: true });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`Released flag "${flag}": on, 100% sticky on userId (read back).`);
      expect(r.stdout).toMatch(/flag ".*": on for 25%/);
      expect(r.stdout + r.stderr).not.toContain(unleash.token);
      expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 100, stickiness: 'userId' });
      const status = await project.run(['status'], { env: env() });
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('flag-release');
      expect(status.stdout).toContain(`flag "${flag}" (production): before off; last read back on, 100% sticky on userId`);
      const back = await project.run(['rollback'], { env: env() });
      expect(back.code, back.stdout + back.stderr).toBe(0);
      expect(await flags.get(flag)).toMatchObject({ enabled: false, rollout: null });
      expect(project.fakeState().weights).toEqual({ v1: 100 });
    });

    it('zdd flag kill during a running release turns the flag off at once and aborts the release, which keeps it off', async () => {
      const flag = await newFlag();
      const before = await flags.set(flag, { enabled: true, rollout: 5, stickiness: 'userId' });
      const running = project.start(['release', flag, '--steps', '20,50,100', '--pause', '5m'], { env: env() });
      await running.waitFor(/bake/);
      expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 20 });
      const kill = await project.run(['flag', 'kill', flag], { env: env() });
      expect(kill.code, kill.stdout + kill.stderr).toBe(0);
      // Either interleaving names the release: the kill's request reached it, or its bake saw the flag off first (it polls the flag).
      expect(kill.stdout).toMatch(/Release \S+ \(by .*\) ramps this flag and (is running: asked it to stop|saw it off: it is rolling back by itself)/);
      const done = await running.done;
      expect(done.code, done.stdout + done.stderr).toBe(130);
      expect(done.stdout + done.stderr).toMatch(/turned off during the release \(kill switch\): it stays off/);
      expect(await flags.get(flag)).toEqual({ ...before, enabled: false });
      const status = await project.run(['status', '--json'], { env: env() });
      expect(status.stdout).toContain('rolled-back');
    }, 60_000);

    it('zdd promote skips a bake of a running release and zdd abort rolls it back to the exact previous state', async () => {
      const flag = await newFlag();
      const before = await flags.set(flag, { enabled: true, rollout: 15, stickiness: 'userId', constraints: [{ contextName: 'region', operator: 'IN', values: ['eu'] }] });
      const running = project.start(['release', flag, '--steps', '30,60,100', '--pause', '5m'], { env: env() });
      await running.waitFor(/bake/);
      expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 30 });
      const promote = await project.run(['promote'], { env: env() });
      expect(promote.code, promote.stdout + promote.stderr).toBe(0);
      await running.waitFor(/on for 60%[\s\S]*bake/);
      expect(await flags.get(flag)).toMatchObject({ enabled: true, rollout: 60 });
      const abort = await project.run(['abort'], { env: env() });
      expect(abort.code, abort.stdout + abort.stderr).toBe(0);
      const done = await running.done;
      expect(done.code, done.stdout + done.stderr).toBe(130);
      expect(await flags.get(flag)).toEqual(before);
    }, 90_000);

    it('an unknown flag or a refused token stops zdd release with exit 5 before any change or record', async () => {
      const unknown = await project.run(['release', 'missing-flag'], { env: env() });
      expect(unknown.code).toBe(5);
      expect(unknown.stdout + unknown.stderr).toMatch(/Flag "missing-flag" does not exist in Unleash project "default" \(environment "production"/);
      const flag = await newFlag();
      const refused = await project.run(['release', flag], { env: { ZDD_TEST_UNLEASH_TOKEN: '*:*.nope' } });
      expect(refused.code).toBe(5);
      expect(refused.stdout + refused.stderr).not.toContain(unleash.token);
      expect(await flags.get(flag)).toMatchObject({ enabled: false, rollout: null });
    });
  });
});
