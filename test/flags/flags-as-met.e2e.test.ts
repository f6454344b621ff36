import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, runZdd, type Project } from '../cli/cli-harness.js';
import { freePort } from '../helpers/moto.js';
import { skipWithoutPostgres } from '../helpers/postgres.js';
import { startUnleash, type Unleash } from '../helpers/unleash.js';

/**
 * Feature flags as a new user meets them, through the built binary against a real Unleash 6 server:
 * the kill switch against a release in flight (the race made deterministic by a proxy that holds the
 * release's write), a kill from a machine without the release's state, credentials never printed,
 * preflight of what a rollout needs, and exposure the user's own strategies add.
 */

/**
 * A pass-through to Unleash that can hold one chosen request (not forwarded) until the test lets
 * it go: the release's `on` write is kept in flight while a kill lands.
 */
function holdingProxy(upstream: string) {
  let hold: { method: string; path: RegExp; reached: () => void; gate: Promise<void> } | null = null;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const h = hold && req.method === hold.method && hold.path.test(req.url ?? '') ? hold : null;
        if (h) {
          hold = null;
          h.reached();
          await h.gate;
        }
        const headers: Record<string, string> = {};
        for (const k of ['authorization', 'content-type', 'accept']) if (typeof req.headers[k] === 'string') headers[k] = req.headers[k] as string;
        const body = Buffer.concat(chunks);
        const up = await fetch(`${upstream}${req.url}`, { method: req.method, headers, body: body.length ? body : undefined });
        const answer = Buffer.from(await up.arrayBuffer());
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
        res.end(answer);
      })().catch(() => res.destroy());
    });
  });
  return {
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    /** Holds the next `method path` request: `reached` resolves when it arrives; `release()` forwards it. */
    hold(method: string, path: RegExp): { reached: Promise<void>; release: () => void } {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const arrived = new Promise<void>((r) => (reached = r));
      hold = { method, path, reached, gate };
      return { reached: arrived, release };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const ENV = 'production';

describe.skipIf(skipWithoutPostgres())('feature flags as users met them (built binary, real Unleash 6)', { timeout: 120_000 }, () => {
  let unleash: Unleash;
  let proxy: ReturnType<typeof holdingProxy>;
  /** The release's machine: fake traffic provider, local state, Unleash through the holding proxy. */
  let releaser: Project;
  /** Another machine: its own directory and config, no state shared with the release. */
  let elsewhere: string;
  let n = 0;
  const env = () => ({ ZDD_TEST_UNLEASH_TOKEN: unleash.token });
  const feature = (flag: string) => `/api/admin/projects/default/features/${flag}`;
  const production = async (flag: string) => {
    const f = await unleash.api<{ environments: { name: string; enabled: boolean; strategies: { title?: string | null; parameters: Record<string, string> }[] }[] }>('GET', feature(flag));
    return f.environments.find((e) => e.name === ENV)!;
  };
  const newFlag = async () => {
    const flag = `met-${++n}`;
    await unleash.api('POST', '/api/admin/projects/default/features', { name: flag, type: 'release' });
    return flag;
  };
  const flagsConfig = (url: string, more = '') => `flags: { provider: 'unleash', url: ${JSON.stringify(url)}, environment: '${ENV}', tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN', release: { stickiness: 'userId'${more} } },`;
  const writeJsonProject = (flags: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-flags-met-'));
    writeFileSync(join(dir, 'deploy.config.json'), JSON.stringify({ service: 'web', provider: { type: 'local', command: 'node server.js' }, flags }, null, 2));
    return dir;
  };

  beforeAll(async () => {
    unleash = await startUnleash();
    proxy = holdingProxy(unleash.url);
    releaser = makeProject({ extra: flagsConfig(await proxy.listen()) });
    elsewhere = writeJsonProject({ provider: 'unleash', url: unleash.url, environment: ENV, tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN' });
  }, 180_000);
  afterAll(async () => {
    releaser?.cleanup();
    if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
    await proxy?.close();
    await unleash?.stop();
  }, 60_000);

  it('the kill switch wins against a release step in flight: its read done, its `on` write held until the kill landed', async () => {
    const flag = await newFlag();
    const held = proxy.hold('POST', new RegExp(`/features/${flag}/environments/${ENV}/on$`));
    const running = releaser.start(['release', flag, '--steps', '50,100', '--pause', '5m'], { env: env() });
    await Promise.race([held.reached, running.done.then((r) => Promise.reject(new Error(`release ended before its turn-on: ${r.stdout}${r.stderr}`)))]);
    // The release has read the flag (off) and added its 50% rollout; its turn-on is in flight.
    const kill = await runZdd(['flag', 'kill', flag], elsewhere, env());
    expect(kill.code, kill.stdout + kill.stderr).toBe(0);
    expect(kill.stdout).toContain(`Flag "${flag}" is OFF in ${ENV}`);
    held.release();
    const t = setTimeout(() => running.child.kill('SIGINT'), 30_000);
    const done = await running.done;
    clearTimeout(t);
    const out = done.stdout + done.stderr;
    expect(done.code, out).toBe(130);
    expect(out).not.toMatch(/Released flag/);
    expect(out).toMatch(new RegExp(`interrupted by the kill switch: flag "${flag}" was turned off in ${ENV} by \\S+ at \\d{4}-`));
    expect(out).toContain('Traffic was not changed.');
    const now = await production(flag);
    expect(now.enabled).toBe(false);
    // The rollback removed zdd's rollout (the flag had none before), and never turned the flag back on.
    expect(now.strategies.filter((s) => s.title === 'zdd rollout')).toEqual([]);
    const events = await unleash.api<{ events: { type: string; environment?: string }[] }>('GET', `/api/admin/events/${flag}`);
    const toggles = events.events.filter((e) => e.environment === ENV && /feature-environment-(en|dis)abled/.test(e.type)).map((e) => e.type.replace('feature-environment-', ''));
    // Newest first: the kill's turn-off found the flag still off (no event of its own; its marker
    // is the evidence), the release's raced `on` landed, and the release turned it off again.
    expect(toggles).toEqual(['disabled', 'enabled']);
    const marker = events.events.filter((e) => e.type === 'feature-tagged');
    expect(marker).toHaveLength(2);
    // The marker leaves no tag on the flag.
    expect((await unleash.api<{ tags: unknown[] }>('GET', `/api/admin/features/${flag}/tags`)).tags).toEqual([]);
  });

  it('a kill from a machine without the release state stops the bake at once, keeps the flag off and says who turned it off', async () => {
    const flag = await newFlag();
    const running = releaser.start(['release', flag, '--steps', '20,50,100', '--pause', '5m'], { env: env() });
    await running.waitFor(/bake/);
    expect((await production(flag)).enabled).toBe(true);
    const kill = await runZdd(['flag', 'kill', flag], elsewhere, env());
    expect(kill.code, kill.stdout + kill.stderr).toBe(0);
    expect(kill.stdout + kill.stderr).toMatch(/one running from elsewhere sees the flag off within a second and stops/);
    const t0 = performance.now();
    const done = await running.done;
    const stoppedMs = Math.round(performance.now() - t0);
    const out = done.stdout + done.stderr;
    expect(done.code, out).toBe(130);
    expect(out).toMatch(new RegExp(`Release of flag "${flag}" interrupted by the kill switch: flag "${flag}" was turned off in ${ENV} by \\S+ at \\d{4}-`));
    expect(out).not.toMatch(/zdd abort/);
    const now = await production(flag);
    expect(now.enabled).toBe(false);
    expect(now.strategies).toEqual([]);
    console.log(`release stopped ${stoppedMs} ms after the kill from another machine returned (5 min pause)`);
  });

  it('a kill from the machine that shares the release state is named as the kill switch, not as `zdd abort`', async () => {
    const flag = await newFlag();
    const running = releaser.start(['release', flag, '--steps', '30,100', '--pause', '5m'], { env: env() });
    await running.waitFor(/bake/);
    const kill = await releaser.run(['flag', 'kill', flag], { env: env() });
    expect(kill.code, kill.stdout + kill.stderr).toBe(0);
    // Either interleaving names the release: the kill's request reached it, or its bake saw the flag off first (it polls the flag).
    expect(kill.stdout).toMatch(/Release \S+ \(by .*, started .*\) ramps this flag and (is running: asked it to stop|saw it off: it is rolling back by itself)/);
    const done = await running.done;
    const out = done.stdout + done.stderr;
    expect(done.code, out).toBe(130);
    expect(out).toMatch(/interrupted by the kill switch/);
    expect(out).not.toMatch(/zdd abort/);
    expect((await production(flag)).enabled).toBe(false);
  });

  it('zdd flag get / kill never print the credentials of flags.url; a flags URL from the environment is shown, but for its credentials', async () => {
    const flag = await newFlag();
    const port = await freePort();
    const dir = writeJsonProject({ provider: 'unleash', url: `http://ops:s3cret-pass@127.0.0.1:${port}`, environment: ENV, tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN', timeout: '2s' });
    try {
      for (const cmd of [['flag', 'get', flag], ['flag', 'kill', flag], ['flag', 'get', flag, '--json']]) {
        const r = await runZdd(cmd, dir, env());
        expect(r.code, r.stdout + r.stderr).toBe(5);
        expect(r.stdout + r.stderr).toMatch(/unreachable/);
        expect(r.stdout + r.stderr).not.toContain('s3cret-pass');
        expect(r.stdout + r.stderr).not.toContain(unleash.token);
      }
      // The address from an environment variable (not secret): an unknown flag names the server.
      writeFileSync(
        join(dir, 'deploy.config.ts'),
        `export default { service: 'web', provider: { type: 'local', command: 'node server.js' }, flags: { provider: 'unleash', url: process.env.ZDD_TEST_FLAGS_URL, tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN' } };\n`,
      );
      rmSync(join(dir, 'deploy.config.json'));
      const unknown = await runZdd(['flag', 'get', 'no-such-flag'], dir, { ...env(), ZDD_TEST_FLAGS_URL: unleash.url });
      expect(unknown.code).toBe(5);
      expect(unknown.stdout + unknown.stderr).toContain(`(environment "production", ${unleash.url})`);
      const withPassword = unleash.url.replace('http://', 'http://ops:env-pa55word@');
      const masked = await runZdd(['flag', 'get', 'no-such-flag'], dir, { ...env(), ZDD_TEST_FLAGS_URL: withPassword });
      expect(masked.code).toBe(5);
      expect(masked.stdout + masked.stderr).not.toContain('env-pa55word');
      expect(masked.stdout + masked.stderr).toContain(unleash.url.replace('http://', 'http://***@'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('preflight: a context field, environment or project that does not exist is exit 5 before any change, naming it and how to create it', async () => {
    const flag = await newFlag();
    const p = makeProject({ extra: flagsConfig(unleash.url, `, constraints: [{ contextName: 'region', values: ['eu'] }]`) });
    try {
      const r = await p.run(['release', flag, '--steps', '10,100', '--pause', '0s'], { env: env() });
      const out = r.stdout + r.stderr;
      expect(r.code, out).toBe(5);
      expect(out).toMatch(/has no context field "region", which releasing flag "met-\d+" needs\. Nothing was changed\./);
      expect(out).toMatch(/Configure → Context fields → New context field/);
      expect(out).not.toMatch(/Production is on stable/);
      const now = await production(flag);
      expect(now.enabled).toBe(false);
      expect(now.strategies).toEqual([]);
      const history = await p.run(['history', '--json'], { env: env() });
      expect(history.stdout).not.toContain(flag);
    } finally {
      p.cleanup();
    }
    for (const [key, value, named] of [
      ['environment', 'staging', /environment "staging"[\s\S]*Configure → Environments/],
      ['project', 'shop', /project "shop"[\s\S]*Projects → New project/],
    ] as const) {
      const q = makeProject({ extra: `flags: { provider: 'unleash', url: ${JSON.stringify(unleash.url)}, ${key}: '${value}', tokenEnv: 'ZDD_TEST_UNLEASH_TOKEN' },` });
      try {
        const r = await q.run(['release', flag, '--steps', '10', '--pause', '0s'], { env: env() });
        expect(r.code, r.stdout + r.stderr).toBe(5);
        expect(r.stdout + r.stderr).toMatch(named);
      } finally {
        q.cleanup();
      }
    }
    expect((await production(flag)).enabled).toBe(false);
  });

  it("the user's own strategies widen exposure: plan and the first step say which and how much; otherRules: 'refuse' stops the release", async () => {
    const flag = await newFlag();
    await unleash.api('POST', `${feature(flag)}/environments/${ENV}/strategies`, { name: 'flexibleRollout', title: 'beta testers', parameters: { rollout: '33', stickiness: 'default', groupId: flag } });
    const plan = await releaser.run(['release', flag, '--steps', '10,100', '--dry-run'], { env: env() });
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/note: Flag "met-\d+" in production has another active rule besides zdd's rollout: "beta testers" \(flexibleRollout\): 33%\. Unleash ORs them/);
    const run = await releaser.run(['release', flag, '--steps', '10', '--pause', '0s', '--json'], { env: env() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const warn = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; message?: string }).find((e) => e.type === 'warn' && /beta testers/.test(e.message ?? ''));
    expect(warn?.message).toMatch(/"beta testers" \(flexibleRollout\): 33%/);
    await releaser.run(['rollback'], { env: env() });
    const strict = makeProject({ extra: flagsConfig(unleash.url, `, otherRules: 'refuse'`) });
    try {
      const r = await strict.run(['release', flag, '--steps', '10', '--pause', '0s'], { env: env() });
      expect(r.code, r.stdout + r.stderr).toBe(5);
      expect(r.stdout + r.stderr).toMatch(/otherRules is "refuse": nothing was changed/);
      const now = await production(flag);
      expect(now.enabled).toBe(false);
      expect(now.strategies.map((s) => s.title)).toEqual(['beta testers']);
    } finally {
      strict.cleanup();
    }
  });

  it('wording: status does not call a flag release a deploy of the live revision, history names the flag, abort calls a release a release', async () => {
    const flag = await newFlag();
    const first = await releaser.run(['release', flag, '--steps', '10', '--pause', '0s'], { env: env() });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const status = await releaser.run(['status'], { env: env() });
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).not.toMatch(/live: .* with flag-release/);
    const history = await releaser.run(['history'], { env: env() });
    expect(history.stdout).toContain(`flag ${flag}: off → on, 10% sticky on userId`);
    const running = releaser.start(['release', flag, '--steps', '30,100', '--pause', '5m'], { env: env() });
    await running.waitFor(/bake/);
    const abort = await releaser.run(['abort'], { env: env() });
    expect(abort.code, abort.stdout + abort.stderr).toBe(0);
    expect(abort.stdout).toMatch(new RegExp(`Release \\S+ aborted and rolled back: flag "${flag}" on, 10% sticky on userId \\(as before the release, read back\\)`));
    expect(abort.stdout + abort.stderr).not.toMatch(/Deploy /);
    expect((await running.done).code).toBe(130);
  });
});
