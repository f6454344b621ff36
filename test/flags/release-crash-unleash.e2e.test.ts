import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { skipWithoutPostgres } from '../helpers/postgres.js';
import { startUnleash, type Unleash } from '../helpers/unleash.js';
import { explain, localProject, type LocalProject, type ZddRun } from '../local/e2e-project.js';

/**
 * kill -9 of `zdd release` against a real Unleash 6 server (one per file: it needs PostgreSQL), at
 * the moments a flag file cannot show: between the two Admin API writes of one step, and after a
 * write landed but before zdd heard the answer. The every-step loop runs on the flagd file
 * provider (release-crash.e2e.test.ts).
 */

/**
 * A pass-through to Unleash that kills the zdd process at one chosen Admin API call: before it
 * reaches Unleash (between two writes of one flag step), or after Unleash applied it but before zdd
 * hears the answer (the write landed, its read-back and checkpoint never happen).
 */
function killingProxy(upstream: string) {
  let trap: { method: string; path: RegExp; when: 'before' | 'after'; run: ZddRun; fired: () => void } | null = null;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const t = trap && req.method === trap.method && trap.path.test(req.url ?? '') ? trap : null;
        if (t) trap = null;
        const kill = async () => {
          t!.run.child.kill('SIGKILL');
          await t!.run.done;
          t!.fired();
        };
        if (t?.when === 'before') {
          await kill();
          res.destroy();
          return;
        }
        const headers: Record<string, string> = {};
        for (const h of ['authorization', 'content-type', 'accept']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
        const body = Buffer.concat(chunks);
        const up = await fetch(`${upstream}${req.url}`, { method: req.method, headers, body: body.length ? body : undefined });
        const answer = Buffer.from(await up.arrayBuffer());
        if (t) {
          await kill();
          res.destroy();
          return;
        }
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
    /** Resolves once `run` was killed at the first `method path` call. */
    killAt(run: ZddRun, method: string, path: RegExp, when: 'before' | 'after', timeoutMs = 30_000): Promise<void> {
      return new Promise((fired, failed) => {
        const t = setTimeout(() => failed(new Error(`zdd never called ${method} ${path} within ${timeoutMs} ms`)), timeoutMs);
        trap = { method, path, when, run, fired: () => (clearTimeout(t), fired()) };
        void run.done.then((r) => {
          if (trap?.run !== run) return;
          clearTimeout(t);
          trap = null;
          failed(new Error(`zdd ended before calling ${method} ${path}: ${explain(r)}`));
        });
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.skipIf(skipWithoutPostgres())('zdd release killed inside a flag write (real Unleash, local provider)', { timeout: 240_000 }, () => {
  let unleash: Unleash;
  let proxy: ReturnType<typeof killingProxy>;
  let p: LocalProject;
  let load: LoadRun | undefined;
  let env: Record<string, string>;
  let n = 0;
  const feature = (flag: string) => `/api/admin/projects/default/features/${flag}`;
  /** The production environment of `flag` as Unleash itself reports it: on/off and every strategy, whole. */
  const production = async (flag: string) => {
    const f = await unleash.api<{ environments: { name: string; enabled: boolean; strategies: Record<string, unknown>[] }[] }>('GET', feature(flag));
    const e = f.environments.find((x) => x.name === 'production')!;
    return { enabled: e.enabled, strategies: e.strategies };
  };
  const zddRollout = async (flag: string) => {
    const e = await production(flag);
    const mine = e.strategies.find((s) => s.title === 'zdd rollout') as { parameters: Record<string, string> } | undefined;
    return { enabled: e.enabled, rollout: mine ? Number(mine.parameters.rollout) : null };
  };
  /** A new flag, off in production, with a strategy of its own team zdd must never touch. */
  const newFlag = async () => {
    const flag = `checkout-${++n}`;
    await unleash.api('POST', '/api/admin/projects/default/features', { name: flag, type: 'release' });
    await unleash.api('POST', `${feature(flag)}/environments/production/strategies`, {
      name: 'flexibleRollout',
      title: 'staff',
      parameters: { rollout: '100', stickiness: 'default', groupId: flag },
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['alice', 'bob'], inverted: false, caseInsensitive: false }],
    });
    return flag;
  };
  const status = async () => {
    const s = await p.run(['status'], env);
    expect(s.code, explain(s)).toBe(0);
    return s.events.find((e) => e.type === 'status');
  };

  beforeAll(async () => {
    const t0 = performance.now();
    unleash = await startUnleash();
    console.log(`Unleash 6 + PostgreSQL ready in ${Math.round(performance.now() - t0)} ms`);
    proxy = killingProxy(unleash.url);
    const url = await proxy.listen();
    env = { UNLEASH_ADMIN_TOKEN: unleash.token };
    p = await localProject({ replicas: 1, extra: `flags: { provider: 'unleash', url: ${JSON.stringify(url)}, release: { stickiness: 'userId' } },` });
    const first = await p.run(['deploy', '--revision', 'v1'], env);
    expect(first.code, explain(first)).toBe(0);
    // The bakes' analysis judges real traffic.
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 100, maxDurationMs: 200_000, maxRequests: 60_000 });
  }, 180_000);
  afterAll(async () => {
    const r = await load?.stop();
    if (r) {
      console.log(`load: ${r.requests} requests, ${failedRequests(r)} failed`);
      expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
    }
    await p?.cleanup();
    await proxy?.close();
    await unleash?.stop();
  }, 60_000);

  it('killed between adding its rollout and turning the flag on: the flag stays off, status tells it, rollback removes the rollout and leaves the staff strategy', async () => {
    const flag = await newFlag();
    const before = await production(flag);
    const t0 = performance.now();
    const run = p.start(['release', flag, '--steps', '10,50,100', '--pause', '2s'], env);
    await proxy.killAt(run, 'POST', /\/environments\/production\/on$/, 'before');
    const killedMs = Math.round(performance.now() - t0);
    // Half-set, never more exposed than before: zdd's 10% is there, but the flag is still off.
    expect(await zddRollout(flag)).toEqual({ enabled: false, rollout: 10 });

    const report = await status();
    expect(report.deployment).toMatchObject({ strategy: 'flag-release', status: 'running' });
    expect(report.deployment.inFlight?.index ?? report.deployment.stepIndex).toBe(0);
    expect(report.flags).toEqual([{ flag, live: expect.objectContaining({ enabled: false, rollout: 10, stickiness: 'userId' }) }]);

    const again = await p.run(['release', flag, '--steps', '10,50,100', '--pause', '2s'], env);
    expect([3, 4], explain(again)).toContain(again.code);
    expect(await zddRollout(flag)).toEqual({ enabled: false, rollout: 10 });

    const back = await p.run(['rollback'], env);
    expect(back.code, explain(back)).toBe(0);
    expect(await production(flag), 'exactly as before: off, the staff strategy untouched, no zdd rollout').toEqual(before);
    console.log(`Unleash, killed before "turn on" of step 1 after ${killedMs} ms: off with zdd 10% kept; release again exit ${again.code}; rollback exit ${back.code} → as before`);
  });

  it('killed between adding its rollout and turning the flag on, then promoted: zdd cannot tell it from a kill switch, so it never turns the flag on and rolls back', async () => {
    const flag = await newFlag();
    const before = await production(flag);
    const run = p.start(['release', flag, '--steps', '10,50,100', '--pause', '2s'], env);
    await proxy.killAt(run, 'POST', /\/environments\/production\/on$/, 'before');
    expect(await zddRollout(flag)).toEqual({ enabled: false, rollout: 10 });
    const promote = p.start(['promote'], env, { fastClock: true });
    const promoted = await promote.done;
    expect(promoted.code, explain(promoted)).toBe(1);
    expect(promoted.events.find((e) => e.type === 'done')?.message).toMatch(/is off in production but not as zdd last recorded it.*keeping the flag off/);
    expect(promoted.events.some((e) => e.type === 'step.start' && e.phase === 'deploy' && e.index > 0), 'no step after the first ran').toBe(false);
    expect(await production(flag), 'exactly as before: off, the staff strategy untouched, no zdd rollout').toEqual(before);
    console.log(`Unleash, half-set step 1 then promote: exit ${promoted.code}, flag as before`);
  });

  it('killed after Unleash applied the 50% step but before zdd heard back: status shows 50% live, promote finishes, rollback restores the flag exactly', async () => {
    const flag = await newFlag();
    const before = await production(flag);
    const t0 = performance.now();
    const run = p.start(['release', flag, '--steps', '10,50,100', '--pause', '2s'], env);
    // The first write of a strategy is a POST; moving it to 50% is a PUT of zdd's own strategy.
    await proxy.killAt(run, 'PUT', /\/environments\/production\/strategies\/[^/]+$/, 'after');
    const killedMs = Math.round(performance.now() - t0);
    expect(await zddRollout(flag)).toEqual({ enabled: true, rollout: 50 });

    const report = await status();
    expect(report.deployment.inFlight?.index ?? report.deployment.stepIndex).toBe(2);
    expect(report.deployment.flags[flag].last.rollout, 'the record is a step behind').toBe(10);
    expect(report.flags).toEqual([{ flag, live: expect.objectContaining({ enabled: true, rollout: 50 }) }]);

    const again = await p.run(['release', flag, '--steps', '10,50,100', '--pause', '2s'], env);
    expect([3, 4], explain(again)).toContain(again.code);
    expect(await zddRollout(flag)).toEqual({ enabled: true, rollout: 50 });

    const promote = p.start(['promote'], env, { fastClock: true });
    const promoted = await promote.done;
    expect(promoted.code, explain(promoted)).toBe(0);
    expect(await zddRollout(flag)).toEqual({ enabled: true, rollout: 100 });
    expect(promoted.events.find((e) => e.type === 'done')?.message).toBe(`Released flag "${flag}": on, 100% sticky on userId (read back).`);
    expect((await status()).deployment.status).toBe('succeeded');

    const back = await p.run(['rollback'], env);
    expect(back.code, explain(back)).toBe(0);
    expect(await production(flag), 'exactly as before: off, the staff strategy untouched, no zdd rollout').toEqual(before);
    console.log(`Unleash, killed after the 50% write landed (${killedMs} ms): on 50% live, record 10%; release again exit ${again.code}; promote exit ${promoted.code} → on 100%; rollback exit ${back.code} → as before`);
  });
});
