import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { ProviderError } from '../../src/core/errors.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import { probeSplit } from '../../src/engine/observed-split.js';
import { inMaintenance, parseServersState, parseStat } from '../../src/providers/haproxy/haproxy-answers.js';
import { HaproxyRouter, type InstanceDirectory } from '../../src/providers/haproxy/haproxy-router.js';
import type { HaproxyRouterConfig } from '../../src/providers/haproxy/schema.js';
import { failedRequests, sharePercent, startLoad } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';

/** In-test instances: each answers with its revision; `/fail` answers 500. */
async function instance(revision: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('x-revision', revision);
    if (req.url === '/fail') res.statusCode = 500;
    res.end(`${revision}\n`);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A directory the test controls, standing in for the platform (the e2e tests use the real ones). */
function directory(): InstanceDirectory & { set(rev: string, urls: string[]): void } {
  const revs = new Map<string, string[]>();
  return {
    set: (rev, urls) => (urls.length ? revs.set(rev, urls) : revs.delete(rev)),
    revisions: async () => [...revs.keys()],
    instanceUrls: async (rev) => revs.get(rev) ?? [],
  };
}

describe.skipIf(skipWithoutHaproxy())('haproxy router against a real HAProxy 2.6', { timeout: 60_000 }, () => {
  let h: Haproxy;
  const servers: Server[] = [];
  let dir: ReturnType<typeof directory>;
  let router: HaproxyRouter;
  let events: ZddEventWithTime[];
  let urls: Record<string, string[]>;

  const config = (over: Partial<HaproxyRouterConfig> = {}): HaproxyRouterConfig => ({
    type: 'haproxy',
    runtimeApi: h.socket,
    backend: h.backend,
    testRoute: { map: h.map, backend: h.testBackend },
    watchInterval: 100,
    ...over,
  });
  const make = (over: Partial<HaproxyRouterConfig> = {}, clock = systemClock) => {
    const bus = new EventBus();
    events = [];
    bus.on((e) => events.push(e));
    return new HaproxyRouter(config(over), { directory: dir, clock, events: bus });
  };

  beforeAll(async () => {
    h = await startHaproxy({ serverStateFile: false, operatorSocket: true });
    urls = {};
    for (const [rev, n] of [['v1', 2], ['v2', 3]] as const) {
      urls[rev] = [];
      for (let i = 0; i < n; i++) {
        const s = await instance(rev);
        servers.push(s.server);
        urls[rev].push(s.url);
      }
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const s of servers) s.closeAllConnections();
    await h?.stop();
  });
  afterEach(async () => {
    await router?.close();
  });

  it('preflight names a missing socket, a socket without admin level, an unknown backend and a backend without slots (exit 5)', async () => {
    dir = directory();
    const fails = async (over: Partial<HaproxyRouterConfig>) => {
      const err = await make(over).preflight().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).exitCode).toBe(5);
      expect((err as ProviderError).changed).toBe(false);
      return `${(err as ProviderError).message}\n${(err as ProviderError).hint}`;
    };
    expect(await fails({ runtimeApi: `${h.dir}/nope.sock` })).toMatch(/nope\.sock is not reachable: the socket file does not exist[\s\S]*level admin/);
    expect(await fails({ runtimeApi: h.operatorSocket })).toMatch(/level "operator", not "admin"[\s\S]*Add `level admin`/);
    expect(await fails({ backend: 'nosuch' })).toMatch(/no backend "nosuch" \(provider\.router\.backend\)/);
    expect(await fails({ slots: 'slot' })).toMatch(/no server slots named slot1, slot2[\s\S]*server-template slot 1-10/);
    expect(await fails({ testRoute: { map: '/etc/haproxy/other.map', backend: h.testBackend } })).toMatch(/no map file \/etc\/haproxy\/other\.map loaded/);
    await make().preflight();
    expect(events.filter((e) => e.type === 'warn')).toEqual([]);
    await make({ runtimeApi: h.tcpApi }).preflight();
    // Slots declared with an address lose it on every reload (HAProxy restores it only for named ones): a warning, not a refusal.
    const byAddress = await startHaproxy({ serverStateFile: false, slotsDeclaredByAddress: true });
    try {
      await make({ runtimeApi: byAddress.socket, testRoute: { map: byAddress.map, backend: byAddress.testBackend } }).preflight();
      expect(events.map((e) => (e.type === 'warn' ? e.message : '')).join('\n')).toMatch(/Backend "app" declares zdd's slots with an address \(zdd1 127\.0\.0\.1:1\): a reload[\s\S]*zdd-slot\.invalid:1 disabled init-addr last,127\.0\.0\.1/);
    } finally {
      await byAddress.stop();
    }
  });

  it('with sticky sessions, preflight warns (and changes nothing) when the backend pins no client, pins with another cookie, or gives the slots no cookie value', async () => {
    dir = directory();
    const warnings = async (target: Haproxy, sticky: HaproxyRouterConfig['sticky']) => {
      await make({ runtimeApi: target.socket, testRoute: { map: target.map, backend: target.testBackend }, sticky }).preflight();
      return events.map((e) => (e.type === 'warn' ? e.message : '')).join('\n');
    };
    expect(await warnings(h, true)).toMatch(/provider\.router\.sticky is on, but backend "app" pins no client to a server: add `cookie zdd-server insert indirect nocache dynamic`, `dynamic-cookie-key <a secret>` and `option redispatch`/);
    const pinning = await startHaproxy({ serverStateFile: false, sticky: true });
    const fixed = await startHaproxy({ serverStateFile: false, extraBackendLines: ['cookie zdd-server insert indirect nocache'] });
    try {
      expect(await warnings(pinning, true)).toBe('');
      expect(await warnings(pinning, { cookie: 'SERVERID' })).toMatch(/expects cookie "SERVERID", but backend "app" pins clients with cookie "zdd-server"/);
      expect(await warnings(fixed, true)).toMatch(/gives zdd's slots no cookie value: a client is pinned to a slot rather than to an instance. Add `dynamic`/);
    } finally {
      await Promise.all([pinning.stop(), fixed.stop()]);
    }
  });

  it('sticky sessions: a pin names an instance, not a slot; a client pinned to a revision now at 0% goes by weight even when its old slot serves another revision', async () => {
    const sticky = await startHaproxy({ serverStateFile: false, sticky: true });
    const v3 = [await instance('v3'), await instance('v3')];
    servers.push(...v3.map((i) => i.server));
    try {
      dir = directory();
      dir.set('v1', urls.v1);
      dir.set('v2', urls.v2);
      router = make({ runtimeApi: sticky.socket, testRoute: { map: sticky.map, backend: sticky.testBackend }, sticky: true });
      await router.setWeights({ v1: 100 });
      const first = await fetch(`${sticky.url}/`);
      expect(await first.text()).toBe('v1\n');
      const pin = first.headers.get('set-cookie')!.split(';')[0];
      const slot = first.headers.get('x-zdd-server')!;
      await router.setWeights({ v2: 100 });
      dir.set('v3', v3.map((i) => i.url));
      await router.setWeights({ v2: 50, v3: 50 });
      const v3Slots = parseServersState(await sticky.api.ask(`show servers state ${sticky.backend}`))
        .filter((s) => !inMaintenance(s) && v3.some((i) => i.url.endsWith(`:${s.address.split(':')[1]}`)))
        .map((s) => s.name);
      expect(v3Slots, 'the pinned client\'s slot now points at a v3 instance').toContain(slot);
      const seen: Record<string, number> = {};
      for (let i = 0; i < 20; i++) {
        const body = (await (await fetch(`${sticky.url}/`, { headers: { cookie: pin } })).text()).trim();
        seen[body] = (seen[body] ?? 0) + 1;
      }
      expect(Object.keys(seen).sort(), JSON.stringify(seen)).toEqual(['v2', 'v3']);
    } finally {
      await sticky.stop();
    }
  });

  it('preflight names an HAProxy too old for zdd (a stand-in socket answering as 1.8: no real 1.8 runs here)', async () => {
    dir = directory();
    const path = `${h.dir}/old.sock`;
    const old = createNetServer((c) => {
      c.setEncoding('utf8');
      c.on('error', () => undefined);
      c.on('data', (d: string) => {
        for (const line of d.split('\n').filter(Boolean)) {
          if (line === 'quit') c.end();
          else if (line === 'prompt') c.write('\n> ');
          else if (line === 'show info') c.write('Name: HAProxy\nVersion: 1.8.30\nPid: 1\n\n> ');
          else c.write('\n> ');
        }
      });
    });
    await new Promise<void>((r) => old.listen(path, () => r()));
    try {
      const err = await make({ runtimeApi: path }).preflight().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).exitCode).toBe(5);
      expect((err as Error).message).toMatch(/is version 1\.8\.30; zdd needs 2\.0 or newer/);
    } finally {
      await new Promise((r) => old.close(r));
    }
  });

  it('spreads each revision\'s percent exactly over its servers and reads it back; the load sees the shares with zero failed requests', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    router = make();
    await router.setWeights({ v1: 100 });
    expect(await router.getWeights()).toEqual({ v1: 100 });
    dir.set('v2', urls.v2);
    const load = startLoad({ url: `${h.url}/`, concurrency: 4, maxDurationMs: 20_000 });
    try {
      for (const w of [10, 50, 100]) {
        await router.setWeights({ v1: 100 - w, v2: w });
        // At 0% a revision's servers go to maintenance (HAProxy sends pinned clients to a server at weight 0), so it is not read back at all.
        expect(await router.getWeights()).toEqual(w === 100 ? { v2: 100 } : { v1: 100 - w, v2: w });
        const win = load.window();
        await new Promise((r) => setTimeout(r, 700));
        const r = win.close();
        expect(Math.abs(sharePercent(r, 'v2') - w), `share at ${w}% over ${r.requests} requests`).toBeLessThanOrEqual(3);
      }
      // Instant switch back: one call.
      await router.setWeights({ v1: 100, v2: 0 });
      expect(await router.getWeights()).toEqual({ v1: 100 });
    } finally {
      const r = await load.stop();
      expect(failedRequests(r), JSON.stringify(r.connectionErrorKinds)).toBe(0);
      expect(r.requests).toBeGreaterThan(200);
    }
    const state = await h.api.ask(`show servers state ${h.backend}`);
    // 3 servers of v2 at 10% and 2 of v1 at 90%: weights stay within 0–256 and a revision's servers differ by at most one.
    expect(state).toMatch(/zdd\d/);
  });

  it('routes the test header to the candidate only, and removes the route', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    dir.set('v2', urls.v2);
    router = make();
    await router.setWeights({ v1: 100 });
    await router.setTestRoute('v2');
    expect(await router.testRoute()).toBe('v2');
    const tested = await startLoad({ url: `${h.url}/`, headers: { 'X-Canary': 'always' }, maxRequests: 60, concurrency: 2 }).done;
    expect(tested.byRevision).toEqual({ v2: 60 });
    const plain = await startLoad({ url: `${h.url}/`, maxRequests: 60, concurrency: 2 }).done;
    expect(plain.byRevision).toEqual({ v1: 60 });
    await router.setTestRoute(null);
    expect(await router.testRoute()).toBeNull();
    const after = await startLoad({ url: `${h.url}/`, headers: { 'X-Canary': 'always' }, maxRequests: 30, concurrency: 2 }).done;
    expect(after.byRevision).toEqual({ v1: 30 });
  });

  it('samples requests and 5xx per revision from HAProxy\'s counters over a window, test-route requests apart', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    dir.set('v2', urls.v2);
    const clock = new FakeClock(Date.now());
    router = make({}, clock);
    await router.setWeights({ v1: 50, v2: 50 });
    await router.setTestRoute('v2');
    await router.trafficSample(['v1', 'v2'], 1000);
    await clock.advance(1000);
    await startLoad({ url: `${h.url}/`, maxRequests: 200, concurrency: 2 }).done;
    await startLoad({ url: `${h.url}/fail`, maxRequests: 100, concurrency: 1 }).done;
    await startLoad({ url: `${h.url}/`, headers: { 'X-Canary': 'always' }, maxRequests: 40, concurrency: 1 }).done;
    const s = await router.trafficSample(['v1', 'v2'], 1000);
    const v1 = s.find((x) => x.revision === 'v1')!;
    const v2 = s.find((x) => x.revision === 'v2')!;
    expect(v1.requests + v2.requests).toBe(300);
    expect(v1.errors + v2.errors).toBe(100);
    expect(v2.testRouteRequests).toBe(40);
    // A later window holds only what came after.
    await clock.advance(1000);
    const later = await router.trafficSample(['v1', 'v2'], 1000);
    expect(later.reduce((n, x) => n + x.requests, 0)).toBe(0);
    await router.setTestRoute(null);
  });

  it('counts a server\'s requests for the revision it served, also once its revision went to 0% and the server to maintenance', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    dir.set('v2', urls.v2);
    const clock = new FakeClock(Date.now());
    // No snapshot of the reload watch in between: the snapshot before v1's requests and the one after its servers went to maintenance are all there is.
    router = make({ watchInterval: 600_000 }, clock);
    await router.setWeights({ v1: 100 });
    await router.trafficSample(['v1', 'v2'], 1000);
    await clock.advance(1000);
    await startLoad({ url: `${h.url}/`, maxRequests: 100, concurrency: 2 }).done;
    // v1's servers go to maintenance; v2 takes free slots, some of which pointed at other instances before.
    await router.setWeights({ v2: 100 });
    await startLoad({ url: `${h.url}/`, maxRequests: 150, concurrency: 2 }).done;
    const s = await router.trafficSample(['v1', 'v2'], 1000);
    expect(Object.fromEntries(s.map((x) => [x.revision, x.requests]))).toEqual({ v1: 100, v2: 150 });
  });

  it('leaves the observed-split probe\'s own requests (and their 5xx) out of the sample, which HAProxy counts like any client\'s', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    dir.set('v2', urls.v2);
    const clock = new FakeClock(Date.now());
    router = make({}, clock);
    await router.setWeights({ v1: 50, v2: 50 });
    await router.trafficSample(['v1', 'v2'], 1000);
    const counted = async () => parseStat(await h.api.ask(`show stat ${h.backend} 4 -1`)).reduce((n, c) => n + c.responses, 0);
    const before = await counted();
    await clock.advance(1000);
    // The engine's own probe, with the router's answer mapping, as after a traffic shift: 100 answers, then 40 that are 500s.
    const probe = async (path: string, requests: number) => {
      const revisionOf = await router.answerTag.mapping!();
      const seen = await probeSplit(`${h.url}${path}`, { requests, withinMs: 5_000, header: 'x-zdd-server', revisionOf });
      expect((seen.byRevision.v1 ?? 0) + (seen.byRevision.v2 ?? 0)).toBe(requests);
    };
    await probe('/', 100);
    await startLoad({ url: `${h.url}/`, maxRequests: 200, concurrency: 2 }).done;
    await probe('/fail', 40);
    await startLoad({ url: `${h.url}/fail`, maxRequests: 50, concurrency: 1 }).done;
    const s = await router.trafficSample(['v1', 'v2'], 1000);
    expect({ requests: s.reduce((n, x) => n + x.requests, 0), errors: s.reduce((n, x) => n + x.errors, 0) }).toEqual({ requests: 250, errors: 50 });
    expect((await counted()) - before, 'HAProxy itself counts the probe\'s requests').toBe(390);
  });

  it('drains an instance (no new requests, its revision keeps its share on the others), then puts it in maintenance', async () => {
    dir = directory();
    dir.set('v2', urls.v2);
    router = make();
    await router.setWeights({ v2: 100 });
    const load = startLoad({ url: `${h.url}/`, concurrency: 4, maxDurationMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    dir.set('v2', urls.v2.slice(1));
    await router.drainInstances([urls.v2[0]], 2_000);
    expect(await router.getWeights()).toEqual({ v2: 100 });
    const r = await load.stop();
    expect(failedRequests(r)).toBe(0);
    const stat = await h.api.ask(`show stat ${h.backend} 4 -1`);
    const port = new URL(urls.v2[0]).port;
    expect(stat.split('\n').find((l) => l.includes(`:${port},`))).toMatch(/,MAINT,/);
  });

  it('a reload without a server-state-file loses the weights: the router sees it within one watch tick and writes them again', async () => {
    dir = directory();
    dir.set('v1', urls.v1);
    dir.set('v2', urls.v2);
    router = make();
    await router.setWeights({ v1: 70, v2: 30 });
    await router.setTestRoute('v2');
    const load = startLoad({ url: `${h.url}/`, concurrency: 4, maxDurationMs: 15_000 });
    await new Promise((r) => setTimeout(r, 300));
    const before = h.pid();
    await h.reload();
    expect(h.pid()).not.toBe(before);
    const t0 = Date.now();
    for (;;) {
      const w = await router.getWeights();
      if (w.v1 === 70 && w.v2 === 30 && (await router.testRoute()) === 'v2') break;
      expect(Date.now() - t0, `weights not written again: ${JSON.stringify(w)}`).toBeLessThan(3_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`reload without server-state-file: weights written again ${Date.now() - t0}ms after the new process answered`);
    expect(events.some((e) => e.type === 'warn' && /HAProxy reloaded \(pid \d+\) and lost zdd's changes/.test(e.message))).toBe(true);
    const r = await load.stop();
    // Without a state file the new process starts with every slot in maintenance: HAProxy answers 503 until zdd writes again.
    console.log(`requests during the reload: ${r.requests}, 503 from HAProxy: ${r.byStatus[503] ?? 0}, connection errors: ${r.connectionErrors}`);
    await router.setTestRoute(null);
  });
});
