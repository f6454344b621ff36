import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/providers/local/processes.js';
import { failedRequests, sharePercent, startLoad, type LoadRun, type SessionLog } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from './e2e-project.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sessions that started and ended between `from` and `to` (performance.now()). */
const within = (sessions: SessionLog[], from: number, to: number) => sessions.filter((s) => s.startedAt >= from && s.endedAt <= to && s.requests > 1);

/**
 * Issue 21, part 2, on the local router: clients that keep the router's cookie (as browsers do)
 * stay on the revision that first answered them during a canary; new clients go by weight; at
 * 100% and after a rollback they move at their next request. Through the built binary, under
 * load from cookie-keeping sessions of 10 requests each.
 */
describe('sticky sessions on the local router, under cookie-keeping load', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    const port = await freePort('127.0.0.1');
    p = await localProject({
      port,
      provider: `{ type: 'local', command: 'node app.mjs', port: ${port}, health: { path: '/health', interval: '50ms' }, stopGrace: '2s', sticky: true }`,
      canarySteps: "[{ weight: 50, pause: 'manual' }, { weight: 100 }]",
    });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });

  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('during a 50% canary each session sees one revision; after promote all see the candidate; after a rollback none does; zero failed requests', async () => {
    load = startLoad({ url: p.url, concurrency: 8, ratePerClient: 40, sessionLength: 10, maxDurationMs: 150_000, maxRequests: 200_000 });

    // 50%, paused: sessions that live entirely inside the pause meet one revision each, half of them each one.
    const canary = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    await canary.waitForEvent((e) => e.type === 'step.start' && e.step?.kind === 'pause', 60_000);
    const pausedAt = performance.now();
    const atHalf = load.window();
    await wait(2_500);
    const half = atHalf.close();
    const inCanary = within(load.sessions(), pausedAt, performance.now());
    const mixed = inCanary.filter((s) => s.revisions.length > 1);
    const onCandidate = inCanary.filter((s) => s.revisions[0] === 'v2').length;
    console.log(`50% canary: ${inCanary.length} sessions, ${mixed.length} met two revisions, ${onCandidate} on v2; requests v2 ${sharePercent(half, 'v2').toFixed(1)}%`);
    expect(inCanary.length).toBeGreaterThan(20);
    expect(mixed, JSON.stringify(mixed.slice(0, 3))).toEqual([]);
    expect(onCandidate / inCanary.length).toBeGreaterThan(0.25);
    expect(onCandidate / inCanary.length).toBeLessThan(0.75);

    // Promote to 100%: clients pinned to v1 move at their next request.
    const promote = await p.run(['promote']);
    expect(promote.code, explain(promote)).toBe(0);
    const done = await canary.done;
    expect(done.code, explain(done)).toBe(0);
    const afterPromote = load.window();
    await wait(1_000);
    const promoted = afterPromote.close();
    expect(promoted.requests).toBeGreaterThan(100);
    expect(promoted.byRevision).toEqual({ v2: promoted.requests });

    // A canary of v3 at 50%, then `zdd rollback`: clients pinned to v3 are back on v2 at once.
    const bad = p.start(['deploy', '--revision', 'v3', '--strategy', 'canary']);
    await bad.waitForEvent((e) => e.type === 'step.start' && e.step?.kind === 'pause', 60_000);
    await wait(1_000);
    const rollback = await p.run(['rollback']);
    expect(rollback.code, explain(rollback)).toBe(0);
    expect((await bad.done).code).toBe(130);
    const afterRollback = load.window();
    await wait(1_000);
    const rolledBack = afterRollback.close();
    expect(rolledBack.requests).toBeGreaterThan(100);
    expect(rolledBack.byRevision).toEqual({ v2: rolledBack.requests });

    const run = load;
    const total = await run.stop();
    load = undefined;
    const all = run.sessions();
    console.log(`all: ${all.length} sessions, ${all.filter((s) => s.revisions.length > 1).length} met two revisions (those running across the promote or the rollback), ${total.requests} requests`);
    expect(total.byRevision.v3).toBeGreaterThan(0);
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });
});
