import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZdd } from '../cli/cli-harness.js';
import { freePort } from '../helpers/moto.js';
import { skipWithoutPostgres } from '../helpers/postgres.js';
import { startUnleash, type Unleash } from '../helpers/unleash.js';

/**
 * docs/flags.md's walk-through, run as written: examples/flags/deploy.config.ts on the local
 * provider (real processes, real router) against a real Unleash server.
 */

const skip = skipWithoutPostgres();
const C = 'examples/flags/deploy.config.ts';

describe.skipIf(skip)('docs/flags.md walk-through (local provider, real Unleash)', () => {
  let unleash: Unleash;
  let env: Record<string, string>;
  const zdd = (...args: string[]) => runZdd(args, process.cwd(), env, 240_000);
  const flag = async () => {
    const f = await unleash.api<{ environments: { name: string; enabled: boolean; strategies: { title?: string; parameters: Record<string, string> }[] }[] }>('GET', '/api/admin/projects/default/features/new-checkout');
    const e = f.environments.find((x) => x.name === 'production')!;
    return { enabled: e.enabled, rollout: e.strategies.find((s) => s.title === 'zdd rollout')?.parameters.rollout ?? null };
  };

  beforeAll(async () => {
    unleash = await startUnleash();
    env = { UNLEASH_ADMIN_TOKEN: unleash.token, UNLEASH_URL: unleash.url, PORT: String(await freePort()) };
    await unleash.api('POST', '/api/admin/projects/default/features', { name: 'new-checkout', type: 'release' });
  }, 180_000);
  afterAll(async () => {
    if (env) await runZdd(['down', '-c', C], process.cwd(), env).catch(() => undefined);
    await unleash?.stop();
  }, 60_000);

  it('deploy dark → ramp → kill switch → full rollout → rollback → hybrid', async () => {
    for (const rev of ['v1', 'v2']) expect((await zdd('deploy', '-c', C, '--revision', rev)).code).toBe(0);
    expect(await flag()).toEqual({ enabled: false, rollout: null });

    const ramp = await zdd('release', '-c', C, 'new-checkout', '--steps', '10,50');
    expect(ramp.code, ramp.stdout + ramp.stderr).toBe(0);
    expect(ramp.stdout).toContain('Released flag "new-checkout": on, 50% sticky on userId (read back).');
    expect(await flag()).toEqual({ enabled: true, rollout: '50' });

    const kill = await zdd('flag', 'kill', '-c', C, 'new-checkout');
    expect(kill.code).toBe(0);
    expect(await flag()).toEqual({ enabled: false, rollout: '50' });

    expect((await zdd('release', '-c', C, 'new-checkout', '--steps', '100', '--pause', '0')).code).toBe(0);
    expect(await flag()).toEqual({ enabled: true, rollout: '100' });

    const back = await zdd('rollback', '-c', C);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await flag()).toEqual({ enabled: false, rollout: '50' });

    const hybrid = await zdd('deploy', '-c', C, '--revision', 'v3', '--strategy', 'hybrid');
    expect(hybrid.code, hybrid.stdout + hybrid.stderr).toBe(0);
    expect(hybrid.stdout).toMatch(/flag "new-checkout": on for 10%[\s\S]*flag "new-checkout": on for 100%[\s\S]*retire stable/);
    expect(await flag()).toEqual({ enabled: true, rollout: '100' });
    for (const r of [ramp, kill, back, hybrid]) expect(r.stdout + r.stderr).not.toContain(unleash.token);
  }, 400_000);
});
