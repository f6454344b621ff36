import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';
import { failedRequests, sharePercent, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { explain, loadPerStep } from '../local/e2e-project.js';
import { hostsProject, type HostsProject } from './haproxy-project.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';

/**
 * The release story on the hosts platform behind a real HAProxy (the documented haproxy.cfg, with
 * its server-state-file), through the built binary, under continuous keep-alive load: canary
 * 10 → 50 → 100 with the candidate's share measured at each step, blue-green, rolling, a bad canary
 * rolled back by the router check on HAProxy's counters, HAProxy reloaded mid-canary, and
 * `zdd rollback` — zero failed requests (the bad app's own 500s aside).
 */
describe.skipIf(skipWithoutHaproxy())('hosts + haproxy router: the story under load (built binary)', { timeout: 240_000 }, () => {
  let h: Haproxy;
  let p: HostsProject;
  let load: LoadRun;
  const isBad = (rev: string) => rev.includes('bad');

  beforeAll(async () => {
    h = await startHaproxy();
    p = await hostsProject(h, { canarySteps: "[{ weight: 10, pause: '2s' }, { weight: 50, pause: '2s' }, { weight: 100 }]" });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
    await h?.stop();
  });

  /** HAProxy's weights as a fresh router reads them (the platform's inventory names the revisions). */
  async function haproxyWeights(): Promise<Record<string, number>> {
    const inv = () => JSON.parse(readFileSync(join(p.dir, '.zdd/hosts/web.json'), 'utf8')) as { revisions: Record<string, { instances: { host: string; port: number; status: string }[] }> };
    const router = new HaproxyRouter(
      { type: 'haproxy', runtimeApi: h.socket, backend: h.backend },
      {
        directory: {
          revisions: async () => Object.keys(inv().revisions),
          instanceUrls: async (id) => (inv().revisions[id]?.instances ?? []).filter((i) => i.status === 'ready').map((i) => `http://${i.host}:${i.port}`),
        },
        clock: systemClock,
        events: new EventBus(),
      },
    );
    return Object.fromEntries(Object.entries(await router.getWeights()).filter(([, w]) => w > 0));
  }

  it('canary 10 → 50 → 100 (HAProxy reloaded mid-canary), blue-green, rolling, a bad canary and zdd rollback, with zero failed requests', async () => {
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    expect(await haproxyWeights()).toEqual({ v1: 100 });

    load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 150, maxDurationMs: 200_000, maxRequests: 200_000 });
    const failures: Record<string, number> = {};
    const phase = async (name: string, fn: () => Promise<void>) => {
      const w = load.window();
      await fn();
      failures[name] = failedRequests(w.close(), { allow5xxFrom: isBad });
    };

    await phase('canary (HAProxy reloaded at 10%)', async () => {
      const canary = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
      const steps = loadPerStep(canary, 'v2', load);
      await canary.waitForEvent((e) => e.type === 'traffic' && e.verified && e.byRevision.v2 === 10, 60_000);
      await h.reload();
      const r = await canary.done;
      expect(r.code, explain(r)).toBe(0);
      // Each shift checked from outside: answers counted by HAProxy's x-zdd-server, mapped to revisions by slot.
      expect(explain(r).match(/Observed split at [^\n]*/g), explain(r)).toEqual([
        expect.stringMatching(/^Observed split at http:\/\/127\.0\.0\.1:\d+: v1 \d+ \(set 90%\), v2 \d+ \(set 10%\) of 100 answers$/),
        expect.stringMatching(/: v1 \d+ \(set 50%\), v2 \d+ \(set 50%\) of 100 answers$/),
        expect.stringMatching(/: v2 100 \(set 100%\) of 100 answers$/),
      ]);
      const measured = (await steps).filter((s) => s.weight > 0 && s.weight < 100 && s.report.requests > 100);
      expect(measured.map((s) => s.weight)).toEqual([10, 50]);
      for (const s of measured) {
        const share = sharePercent(s.report, 'v2');
        console.log(`canary step ${s.weight}%: v2 share ${share.toFixed(2)}% over ${s.report.requests} requests`);
        expect(Math.abs(share - s.weight), `v2 share ${share.toFixed(1)}% at ${s.weight}%`).toBeLessThanOrEqual(5);
      }
      expect(await haproxyWeights()).toEqual({ v2: 100 });
    });

    await phase('blue-green', async () => {
      const r = await p.run(['deploy', '--revision', 'v3', '--strategy', 'blue-green']);
      expect(r.code, explain(r)).toBe(0);
      expect(await haproxyWeights()).toEqual({ v3: 100 });
    });

    await phase('rolling', async () => {
      const r = await p.run(['deploy', '--revision', 'v4', '--strategy', 'rolling']);
      expect(r.code, explain(r)).toBe(0);
      expect(await haproxyWeights()).toEqual({ v4: 100 });
    });

    await phase('bad canary', async () => {
      const bad = await p.run(['deploy', '--revision', 'v5-bad', '--strategy', 'canary']);
      expect(bad.code, explain(bad)).toBe(1);
      expect(explain(bad)).toMatch(/candidate-errors/);
      expect(await haproxyWeights()).toEqual({ v4: 100 });
    });

    await phase('zdd rollback', async () => {
      const t0 = Date.now();
      const rollback = p.start(['rollback', '--yes']);
      let readBackMs: number | undefined;
      while (readBackMs === undefined && Date.now() - t0 < 60_000) {
        const w = await haproxyWeights().catch(() => ({}) as Record<string, number>);
        if (w.v3 === 100) readBackMs = Date.now() - t0;
        else await new Promise((r) => setTimeout(r, 20));
      }
      const r = await rollback.done;
      expect(r.code, explain(r)).toBe(0);
      console.log(`zdd rollback: v3 100% read back from HAProxy ${readBackMs}ms after the command started; command took ${Date.now() - t0}ms`);
      expect(await haproxyWeights()).toEqual({ v3: 100 });
    });

    const total = await load.stop();
    console.log(`failed requests per phase: ${JSON.stringify(failures)}; whole run ${total.requests} requests, ${failedRequests(total, { allow5xxFrom: isBad })} failed ${JSON.stringify(total.connectionErrorKinds)}`);
    expect(failures).toEqual(Object.fromEntries(Object.keys(failures).map((k) => [k, 0])));
    expect(failedRequests(total, { allow5xxFrom: isBad })).toBe(0);
  });
});
