import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { CheckFailedError } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import { inMaintenance, parseServersState } from '../../src/providers/haproxy/haproxy-answers.js';
import { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';
import { HostsPlatform } from '../../src/providers/hosts/hosts-platform.js';
import type { HostsPlatformConfig } from '../../src/providers/hosts/schema.js';
import { freePort } from '../../src/providers/local/processes.js';
import { failedRequests, sharePercent, startLoad } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { EXAMPLE_APP } from '../local/local-fixture.js';
import { HOSTS_PROVISION, HOSTS_RETIRE, runningInstancePids } from './haproxy-project.js';

describe.skipIf(skipWithoutHaproxy())('hosts platform behind the haproxy router (instances started by the user\'s commands)', { timeout: 90_000 }, () => {
  let h: Haproxy;
  let dir: string;
  let platform: HostsPlatform;
  let router: HaproxyRouter;

  beforeAll(async () => {
    h = await startHaproxy();
    dir = mkdtempSync(join(tmpdir(), 'zdd-hosts-'));
    copyFileSync(EXAMPLE_APP, join(dir, 'app.mjs'));
    const ports = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const cfg: HostsPlatformConfig = {
      type: 'hosts',
      hosts: ['127.0.0.1', '127.0.0.2'],
      ports,
      provision: HOSTS_PROVISION,
      retire: HOSTS_RETIRE,
      health: { path: '/health', interval: 50 },
    };
    const ctx = { service: 'web', configDir: dir, stateDir: join(dir, '.zdd'), clock: systemClock, events: new EventBus() };
    platform = new HostsPlatform(cfg, ctx);
    router = new HaproxyRouter(
      { type: 'haproxy', runtimeApi: h.socket, backend: h.backend, testRoute: { map: h.map, backend: h.testBackend } },
      {
        directory: { revisions: async () => (await platform.snapshot()).revisions.map((r) => r.revision.id), instanceUrls: async (id) => (await platform.endpoints(id)).instanceUrls ?? [] },
        clock: systemClock,
        events: ctx.events,
      },
    );
    platform.attachRouting(router.instanceRouting);
  });
  afterAll(async () => {
    await router?.close();
    for (const p of runningInstancePids(dir)) process.kill(p, 'SIGKILL');
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions, shifts 10 → 50 → 100, scales and retires with drain: zero failed requests, nothing left running', async () => {
    await router.preflight();
    await platform.provision({ id: 'v1' }, 2);
    await platform.waitHealthy('v1', { timeoutMs: 10_000 });
    expect((await platform.endpoints('v1')).instanceUrls?.map((u) => new URL(u).hostname)).toEqual(['127.0.0.1', '127.0.0.2']);
    await router.setWeights({ v1: 100 });
    const load = startLoad({ url: `${h.url}/`, concurrency: 4, ratePerClient: 150, maxDurationMs: 60_000 });
    try {
      await platform.provision({ id: 'v2' }, 2);
      await platform.waitHealthy('v2', { timeoutMs: 10_000 });
      await router.setTestRoute('v2');
      expect(await router.testRoute()).toBe('v2');
      for (const w of [10, 50, 100]) {
        await router.setWeights({ v1: 100 - w, v2: w });
        // A revision at 0% has its servers in maintenance: it is not read back at all.
        expect(await router.getWeights()).toEqual(w === 100 ? { v2: 100 } : { v1: 100 - w, v2: w });
        const win = load.window();
        await new Promise((r) => setTimeout(r, 800));
        const r = win.close();
        expect(Math.abs(sharePercent(r, 'v2') - w), `v2 share at ${w}%`).toBeLessThanOrEqual(4);
      }
      await router.setTestRoute(null);
      // Rolling-style: v2 shrinks to one host and grows back while it takes all the traffic.
      await platform.scale('v2', 1, { drainMs: 1_000 });
      expect(await router.getWeights()).toEqual({ v2: 100 });
      await platform.scale('v2', 2, { drainMs: 1_000 });
      await platform.waitHealthy('v2', { timeoutMs: 10_000 });
      await platform.retire('v1', { drainMs: 1_000 });
      expect(await router.getWeights()).toEqual({ v2: 100 });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      const r = await load.stop();
      console.log(`hosts + haproxy: ${r.requests} requests, ${failedRequests(r)} failed ${JSON.stringify(r.connectionErrorKinds)}`);
      expect(failedRequests(r)).toBe(0);
    }
    expect(runningInstancePids(dir)).toHaveLength(2);
    const snap = await platform.snapshot();
    expect(snap.revisions.map((r) => [r.revision.id, r.desired, r.healthy])).toEqual([['v2', 2, 2]]);
  });

  it('an HAProxy reload with the documented server-state-file keeps the slots and their weights: zero failed requests', async () => {
    await platform.provision({ id: 'v3' }, 2);
    await platform.waitHealthy('v3', { timeoutMs: 10_000 });
    await router.setWeights({ v2: 70, v3: 30 });
    await router.setTestRoute('v3');
    const load = startLoad({ url: `${h.url}/`, concurrency: 4, ratePerClient: 150, maxDurationMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    // Twelve reloads, 150 ms apart: each one catches keep-alive connections idle between two requests
    // (without `option idle-close-on-response` about half the reloads cost a request here).
    for (let i = 0; i < 12; i++) {
      const before = h.pid();
      await h.reload();
      expect(h.pid()).not.toBe(before);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(await router.getWeights()).toEqual({ v2: 70, v3: 30 });
    // Each slot still points at the instance it pointed at: the addresses came back from the state file.
    const inUse = parseServersState(await h.api.ask(`show servers state ${h.backend}`)).filter((s) => !inMaintenance(s)).map((s) => s.address);
    const instances = [...((await platform.endpoints('v2')).instanceUrls ?? []), ...((await platform.endpoints('v3')).instanceUrls ?? [])].map((u) => new URL(u).host);
    expect(inUse.sort()).toEqual(instances.sort());
    await new Promise((r) => setTimeout(r, 500));
    const r = await load.stop();
    console.log(`12 reloads with server-state-file: ${r.requests} requests, ${failedRequests(r)} failed ${JSON.stringify(r.connectionErrorKinds)}`);
    expect(failedRequests(r)).toBe(0);
    // The map is read from its file again: only the test route needs zdd (the reload watch writes it back).
    await router.setTestRoute(null);
    await router.setWeights({ v2: 100, v3: 0 });
    await platform.retire('v3', { drainMs: 500 });
  });

  it('a provision command that fails names itself, its exit code and its stderr', async () => {
    const failing = new HostsPlatform(
      { type: 'hosts', hosts: ['127.0.0.1'], ports: [1, 2], provision: 'echo "no such unit app@{{port}}" >&2; exit 4', retire: 'true' },
      { service: 'web', configDir: dir, stateDir: join(dir, '.zdd-fail'), clock: systemClock, events: new EventBus() },
    );
    const err = await failing.provision({ id: 'v9' }, 1).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect((err as Error).message).toMatch(/could not start on 127\.0\.0\.1:1: provider\.provision `echo .*` exited with code 4; last lines of stderr:\n\s+no such unit app@1/);
    expect((await failing.snapshot()).revisions[0].desired).toBe(1);
    expect((await failing.endpoints('v9')).instanceUrls).toEqual([]);
  });
});
