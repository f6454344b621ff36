import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, sharePercent, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from './e2e-project.js';

/**
 * The incident path through the built binary: a canary is live (20%, baking for ten minutes) under
 * keep-alive load, and `zdd rollback` from another process ends it. Behaviour only; the time it
 * takes is `npm run bench -- --only=live-rollback`.
 */
describe('zdd rollback during a live canary, under load', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 20, pause: '10m' }, { weight: 100 }]" });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });

  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('the running deploy stops and rolls back, the router reads stable 100%, and no request fails', async () => {
    load = startLoad({ url: p.url, concurrency: 6, ratePerClient: 50, maxDurationMs: 150_000, maxRequests: 500_000 });
    const deploy = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    // live: 20% on the candidate, in the ten-minute bake
    await deploy.waitForEvent((e) => e.type === 'step.start' && e.step?.kind === 'pause', 60_000);
    expect(p.routerState()?.weights).toEqual({ v1: 80, v2: 20 });

    const rollback = await p.run(['rollback']);
    expect(rollback.code, explain(rollback)).toBe(0);
    expect(rollback.events.find((e) => e.type === 'done')).toMatchObject({ result: 'rolled-back', message: expect.stringContaining('aborted and rolled back: production on stable v1') });

    // The deploy's own process did the rollback: interrupted, rolled back safely (exit 130), long before its bake's end.
    const deployed = await deploy.done;
    expect(deployed.code, explain(deployed)).toBe(130);
    expect(deployed.events.some((e) => e.type === 'rollback.done')).toBe(true);
    expect(p.routerState()?.weights.v1).toBe(100);
    expect(p.routerState()?.weights.v2 ?? 0).toBe(0);

    const after = load.window();
    await new Promise((r) => setTimeout(r, 1_000));
    const served = after.close();
    expect(served.requests).toBeGreaterThan(0);
    expect(sharePercent(served, 'v1')).toBe(100);

    const report = await load.stop();
    load = undefined;
    expect(report.byRevision.v2).toBeGreaterThan(0);
    expect(failedRequests(report), JSON.stringify(report.connectionErrorKinds)).toBe(0);

    const status = await p.run(['status']);
    expect(status.code, explain(status)).toBe(0);
  });
});
