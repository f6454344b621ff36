import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';
import { failedRequests, sharePercent, startLoad, type LoadRun, type SessionLog } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { explain } from '../local/e2e-project.js';
import { hostsProject, inventoryRouter, type HostsProject } from './haproxy-project.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sessions that started and ended between `from` and `to` (performance.now()). */
const within = (sessions: SessionLog[], from: number, to: number) => sessions.filter((s) => s.startedAt >= from && s.endedAt <= to && s.requests > 1);
const mixed = (sessions: SessionLog[]) => sessions.filter((s) => s.revisions.length > 1);

/**
 * Issue 21, part 2, behind HAProxy: the backend pins each client to its instance with a cookie
 * (docs/haproxy.md, section 5) and zdd puts a revision's servers in maintenance when it drops to
 * 0%. Through the built binary, under load from cookie-keeping sessions of 10 requests each, with
 * a control group that drops its cookies; HAProxy is reloaded mid-canary.
 */
describe.skipIf(skipWithoutHaproxy())('sticky sessions behind HAProxy, under cookie-keeping load (built binary)', { timeout: 180_000 }, () => {
  let h: Haproxy;
  let p: HostsProject;
  let router: HaproxyRouter;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    h = await startHaproxy({ sticky: true });
    p = await hostsProject(h, { canarySteps: "[{ weight: 50, pause: 'manual' }, { weight: 100, pause: 'manual' }]", routerExtra: 'sticky: true,' });
    router = inventoryRouter(h, p.dir);
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    // The documented lines are there: preflight has nothing to say about them.
    expect(first.events.filter((e) => e.type === 'warn').map((e) => e.message)).toEqual([]);
  });

  afterAll(async () => {
    await load?.stop();
    await router?.close();
    await p?.cleanup();
    await h?.stop();
  });

  it('during a 50% canary each session sees one revision (a reload included); at 100% and after a rollback pinned clients move at once; zero failed requests', async () => {
    load = startLoad({ url: p.url, concurrency: 8, ratePerClient: 40, sessionLength: 10, maxDurationMs: 150_000, maxRequests: 200_000 });

    // 50%, paused: sessions that live entirely inside the pause meet one revision each, half of them each one.
    const canary = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    await canary.waitForEvent((e) => e.type === 'step.start' && e.step?.kind === 'pause', 60_000);
    const pausedAt = performance.now();
    const control = startLoad({ url: p.url, concurrency: 4, ratePerClient: 40, sessionLength: 10, keepCookies: false, maxDurationMs: 20_000 });
    await router.trafficSample(['v1', 'v2'], 0);
    const atHalf = load.window();
    const controlHalf = control.window();
    await wait(1_200);
    const half = atHalf.close();
    const controlSeen = controlHalf.close();
    const sample = await router.trafficSample(['v1', 'v2'], 0);
    // Pins outlive a reload: the cookie key is haproxy.cfg's, the servers' addresses and states come from the server-state-file.
    await h.reload();
    await wait(1_000);
    const controlReport = await control.stop();
    const inCanary = within(load.sessions(), pausedAt, performance.now());
    const controlSessions = within(control.sessions(), pausedAt, performance.now());
    const onCandidate = inCanary.filter((s) => s.revisions[0] === 'v2').length;
    console.log(
      `50% canary: ${inCanary.length} cookie-keeping sessions, ${mixed(inCanary).length} met two revisions, ${onCandidate} on v2 (requests v2 ${sharePercent(half, 'v2').toFixed(1)}%); ` +
        `control without cookies: ${controlSessions.length} sessions, ${mixed(controlSessions).length} met two revisions`,
    );
    expect(inCanary.length).toBeGreaterThan(20);
    expect(mixed(inCanary), JSON.stringify(mixed(inCanary).slice(0, 3))).toEqual([]);
    expect(onCandidate / inCanary.length).toBeGreaterThan(0.25);
    expect(onCandidate / inCanary.length).toBeLessThan(0.75);
    // The measure can see mixing: clients that drop the cookie flip between revisions.
    expect(mixed(controlSessions).length / controlSessions.length).toBeGreaterThan(0.5);
    // HAProxy's per-revision counts (what the router check reads) match what the clients saw, pins and all.
    const seen = { v1: (half.byRevision.v1 ?? 0) + (controlSeen.byRevision.v1 ?? 0), v2: (half.byRevision.v2 ?? 0) + (controlSeen.byRevision.v2 ?? 0) };
    const counted = Object.fromEntries(sample.map((s) => [s.revision, s.requests]));
    console.log(`requests in 1.2s of the pause as clients saw them ${JSON.stringify(seen)}, as HAProxy's counters say ${JSON.stringify(counted)}`);
    for (const rev of ['v1', 'v2'] as const) expect(Math.abs(counted[rev] - seen[rev]), rev).toBeLessThanOrEqual(Math.max(10, seen[rev] * 0.05));

    // Promote to 100%, paused there with v1 still running: clients pinned to v1 are on v2 from their next request.
    expect((await p.run(['promote'])).code).toBe(0);
    await canary.waitForEvent((e) => e.type === 'traffic' && e.verified && e.byRevision?.v2 === 100, 30_000);
    await wait(50);
    const afterPromote = load.window();
    await wait(700);
    const promoted = afterPromote.close();
    expect(p.instancePids().length, 'v1 still runs while paused at 100%').toBe(4);
    expect(promoted.requests).toBeGreaterThan(100);
    expect(promoted.byRevision).toEqual({ v2: promoted.requests });
    expect((await p.run(['promote'])).code).toBe(0);
    const done = await canary.done;
    expect(done.code, explain(done)).toBe(0);

    // A canary of v3 at 50%, then `zdd rollback`: clients pinned to v3 are back on v2 from the traffic switch on.
    const bad = p.start(['deploy', '--revision', 'v3', '--strategy', 'canary']);
    await bad.waitForEvent((e) => e.type === 'step.start' && e.step?.kind === 'pause', 60_000);
    await wait(500);
    // `zdd rollback` asks the paused deploy to abort: that process switches the traffic back.
    const rollback = p.start(['rollback']);
    await bad.waitForEvent((e) => e.type === 'traffic' && e.verified && e.byRevision?.v2 === 100, 30_000);
    await wait(50);
    const afterSwitch = load.window();
    const rolledBack = await rollback.done;
    expect(rolledBack.code, explain(rolledBack)).toBe(0);
    expect((await bad.done).code).toBe(130);
    await wait(500);
    const back = afterSwitch.close();
    expect(back.requests).toBeGreaterThan(20);
    expect(back.byRevision).toEqual({ v2: back.requests });

    const run = load;
    const total = await run.stop();
    load = undefined;
    const all = run.sessions();
    console.log(`all: ${all.length} sessions, ${mixed(all).length} met two revisions (those running across the promote or the rollback), ${total.requests} requests, ${failedRequests(total)} failed; control group ${controlReport.requests} requests, ${failedRequests(controlReport)} failed`);
    expect(total.byRevision.v3).toBeGreaterThan(0);
    expect(total.connectionErrors + controlReport.connectionErrors, JSON.stringify({ ...total.connectionErrorKinds, ...controlReport.connectionErrorKinds })).toBe(0);
    expect(failedRequests(total) + failedRequests(controlReport), JSON.stringify(total.byStatus)).toBe(0);
  });
});
