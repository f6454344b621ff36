import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';

/**
 * What the HAProxy router tells the engine about an observed-split probe that failed
 * (`witnessProbe`, src/engine/steps/shift-traffic.ts): a reload during it, and whether the router's
 * own reload watch wrote zdd's weights again meanwhile, the case where the engine's read-back finds
 * them intact and only the witness can say why the probe met HAProxy's 503s.
 */
describe.skipIf(skipWithoutHaproxy())('haproxy router: the observed-split probe\'s witness (real HAProxy 2.6)', { timeout: 60_000 }, () => {
  let h: Haproxy;
  let router: HaproxyRouter | undefined;
  const servers: Server[] = [];
  const urls: Record<string, string> = {};
  let events: ZddEventWithTime[] = [];

  beforeAll(async () => {
    h = await startHaproxy({ serverStateFile: false });
    for (const rev of ['v1', 'v2']) {
      const server = createServer((_req, res) => res.end(`${rev}\n`));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push(server);
      urls[rev] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
  });
  afterEach(async () => {
    await router?.close();
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await h?.stop();
  });

  const make = (watchInterval: number) => {
    const bus = new EventBus();
    events = [];
    bus.on((e) => events.push(e));
    return new HaproxyRouter(
      { type: 'haproxy', runtimeApi: h.socket, backend: h.backend, watchInterval },
      { directory: { revisions: async () => Object.keys(urls), instanceUrls: async (id) => (urls[id] ? [urls[id]] : []) }, clock: systemClock, events: bus },
    );
  };

  it('no reload during the probe: nothing to say', async () => {
    router = make(50);
    await router.setWeights({ v1: 70, v2: 30 });
    const witness = await router.witnessProbe();
    expect(await witness()).toBeUndefined();
  });

  it('a reload that lost the weights, written again by the reload watch before the probe ended: named, with the repair', async () => {
    router = make(50);
    await router.setWeights({ v1: 70, v2: 30 });
    const before = h.pid();
    const witness = await router.witnessProbe();
    await h.reload();
    const t0 = Date.now();
    while (!events.some((e) => e.type === 'warn' && /^HAProxy reloaded \(pid \d+\) and lost zdd's changes/.test(e.message)) || (await router.getWeights()).v2 !== 30) {
      expect(Date.now() - t0, 'the reload watch did not write the weights again').toBeLessThan(5_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The engine's read-back now finds the weights as it wrote them: only the witness knows.
    expect(await router.getWeights()).toEqual({ v1: 70, v2: 30 });
    expect(await witness()).toBe(`HAProxy reloaded during the probe (pid ${before} → ${h.pid()}); it lost zdd's changes, and zdd's reload watch wrote them again`);
  });

  it('a reload whose loss the engine finds first (the watch has not looked yet): the reload is named, no repair claimed', async () => {
    router = make(60_000);
    await router.setWeights({ v1: 70, v2: 30 });
    const before = h.pid();
    const witness = await router.witnessProbe();
    await h.reload();
    expect(await router.getWeights()).toEqual({});
    expect(await witness()).toBe(`HAProxy reloaded during the probe (pid ${before} → ${h.pid()})`);
  });
});
