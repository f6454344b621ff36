import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';
import { isAlive } from '../../src/providers/local/processes.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';
import { haproxyRouterBlock } from './haproxy-project.js';

type Inventory = { revisions: Record<string, { instances: { host: string; port: number; status: string; pid?: number }[] }> };

/**
 * Issue 18's "HAProxy in front of the local platform": `provider: { type: 'local', router: { type:
 * 'haproxy' } }` runs zdd's local processes as the slots of a real HAProxy 2.6 (the documented
 * haproxy.cfg), with no zdd router process, through the built binary under keep-alive load: a
 * canary promoted to 100%, and a bad canary rolled back by the `router` check on HAProxy's own
 * counters. Every connection error and 5xx counts as failed, except the bad revision's own 500s.
 */
describe.skipIf(skipWithoutHaproxy())('local platform + haproxy router under load (built binary)', { timeout: 120_000 }, () => {
  let h: Haproxy;
  let p: LocalProject;
  let load: LoadRun | undefined;
  const isBad = (rev: string) => rev.includes('bad');
  const inventory = (): Inventory => JSON.parse(readFileSync(join(p.dir, '.zdd/local/web/instances.json'), 'utf8')) as Inventory;

  beforeAll(async () => {
    h = await startHaproxy();
    p = await localProject({
      canarySteps: "[{ weight: 20, pause: '1500ms' }, { weight: 50, pause: '1500ms' }, { weight: 100 }]",
      provider: `{
    type: 'local',
    command: 'node app.mjs',
    health: { path: '/health', interval: '50ms' },
    stopGrace: '2s',
    ${haproxyRouterBlock(h)}
  }`,
    });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.run(['down', '--yes']).catch(() => undefined);
    await p?.cleanup();
    await h?.stop();
  });

  /** HAProxy's weights as a fresh router reads them, revisions named from the local inventory. */
  async function haproxyWeights(): Promise<Record<string, number>> {
    const router = new HaproxyRouter(
      { type: 'haproxy', runtimeApi: h.socket, backend: h.backend },
      {
        directory: {
          revisions: async () => Object.keys(inventory().revisions),
          instanceUrls: async (id) => (inventory().revisions[id]?.instances ?? []).filter((i) => i.status === 'ready').map((i) => `http://${i.host}:${i.port}`),
        },
        clock: systemClock,
        events: new EventBus(),
      },
    );
    return Object.fromEntries(Object.entries(await router.getWeights()).filter(([, w]) => w > 0));
  }

  it('a canary promoted to 100% and a bad canary rolled back, behind HAProxy with no zdd router: zero failed requests', async () => {
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    expect(await haproxyWeights()).toEqual({ v1: 100 });
    // The processes are HAProxy's servers; zdd's own router never started.
    expect(existsSync(join(p.dir, '.zdd/local/web/router.json'))).toBe(false);

    load = startLoad({ url: `${h.url}/`, concurrency: 4, ratePerClient: 150, maxDurationMs: 100_000, maxRequests: 100_000 });
    const failures: Record<string, number> = {};
    const phase = async (name: string, fn: () => Promise<void>) => {
      const w = load!.window();
      await fn();
      failures[name] = failedRequests(w.close(), { allow5xxFrom: isBad });
    };

    await phase('canary promoted', async () => {
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary']);
      expect(r.code, explain(r)).toBe(0);
      expect(await haproxyWeights()).toEqual({ v2: 100 });
    });
    const v1Pids = () => Object.values(inventory().revisions.v1?.instances ?? []).map((i) => i.pid!);
    expect(v1Pids(), 'v1 is retired and forgotten').toEqual([]);

    await phase('bad canary rolled back', async () => {
      const r = await p.run(['deploy', '--revision', 'v3-bad', '--strategy', 'canary']);
      expect(r.code, explain(r)).toBe(1);
      expect(explain(r)).toMatch(/candidate-errors/);
      expect(await haproxyWeights()).toEqual({ v2: 100 });
    });

    const total = await load.stop();
    load = undefined;
    const own500s = Object.entries(total.errorsByRevision).filter(([rev]) => isBad(rev)).reduce((n, [, c]) => n + c, 0);
    console.log(`local + haproxy: ${total.requests} requests, ${failedRequests(total, { allow5xxFrom: isBad })} failed (connection errors ${total.connectionErrors}, 5xx by status ${JSON.stringify(total.byStatus)}; the bad revision's own 500s ${own500s}); per phase ${JSON.stringify(failures)}`);
    expect(failures).toEqual({ 'canary promoted': 0, 'bad canary rolled back': 0 });
    expect(total.connectionErrors).toBe(0);
    expect(failedRequests(total, { allow5xxFrom: isBad })).toBe(0);
    // Every instance the inventory holds is alive (the bad canary's were stopped and forgotten).
    const held = Object.entries(inventory().revisions).flatMap(([rev, r]) => r.instances.map((i) => ({ rev, pid: i.pid! })));
    expect(held.map((i) => i.rev).sort()).toEqual(['v2', 'v2']);
    expect(held.every((i) => isAlive(i.pid))).toBe(true);
  });

  it('a command that does not exist is exit 2 before anything changes (no instance, HAProxy untouched)', async () => {
    const before = await haproxyWeights();
    const broken = await localProject({
      provider: `{ type: 'local', command: 'no-such-program-zdd', router: { type: 'haproxy', runtimeApi: ${JSON.stringify(h.socket)}, backend: ${JSON.stringify(h.backend)} } }`,
    });
    try {
      const r = await broken.run(['deploy', '--revision', 'v9']);
      expect(r.code, explain(r)).toBe(2);
      expect(explain(r)).toContain('provider.command: command "no-such-program-zdd" not found on PATH');
      expect(existsSync(join(broken.dir, '.zdd/local/web/instances.json'))).toBe(false);
      expect(await haproxyWeights()).toEqual(before);
    } finally {
      await broken.cleanup();
    }
  });
});
