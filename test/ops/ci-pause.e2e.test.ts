import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, sharePercent, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';

/**
 * A long release in CI without a runner waiting (local provider, built binary, under load):
 * `deploy --until-pause` checkpoints at the manual pause and exits 6 with result "paused"; traffic
 * stays split while no zdd process runs; another deploy is refused; `zdd promote` in a "later job"
 * continues from the checkpoint, or `zdd abort` rolls back.
 */
describe('long releases: --until-pause then promote/abort from a later job', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let load: LoadRun;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 30, pause: 'manual' }, { weight: 100 }]", replicas: 1 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 150_000, maxRequests: 40_000 });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('stops at the pause with exit 6, keeps traffic split with no zdd running, refuses another deploy, and promote finishes it', async () => {
    const d = await p.run(['deploy', '--revision', 'v2', '--until-pause']);
    expect(d.code, explain(d)).toBe(6);
    const done = d.events.at(-1);
    expect(done).toMatchObject({ type: 'done', result: 'paused', exitCode: 6 });
    expect(done.hint).toContain('zdd promote');
    expect(d.events.some((e) => e.type === 'paused')).toBe(true);

    // Nobody waits: the weights hold, the record says paused, and the lock is free for promote/abort.
    expect(p.routerState()!.weights).toEqual({ v1: 70, v2: 30 });
    const w = load.window();
    // 180 answers (about 1.5 s of this load) served while no zdd process runs.
    await w.until((r) => r.requests >= 180, '180 requests answered with no zdd running');
    const share = sharePercent(w.close(), 'v2');
    expect(Math.abs(share - 30)).toBeLessThanOrEqual(8);
    const status = await p.run(['status']);
    const s = status.events.find((e) => e.type === 'status');
    expect(s.deployment).toMatchObject({ status: 'paused', candidate: { id: 'v2' } });
    expect(s.lock).toBeNull();

    const other = await p.run(['deploy', '--revision', 'v9']);
    expect(other.code, explain(other)).toBe(4);
    expect(explain(other)).toMatch(/did not finish: paused/);
    expect(p.routerState()!.weights).toEqual({ v1: 70, v2: 30 });

    const promote = await p.run(['promote']);
    expect(promote.code, explain(promote)).toBe(0);
    expect(promote.events.find((e) => e.type === 'deploy.start')).toMatchObject({ deploymentId: s.deployment.id, resumedAt: expect.any(Number) });
    expect(p.routerState()!.weights).toEqual({ v2: 100 });

    // One report across both jobs: the pause from the first, the rest from the promoting one.
    const rep = (await p.run(['report', s.deployment.id])).events.find((e) => e.type === 'report');
    expect(rep).toMatchObject({ result: 'succeeded', planOnly: false });
    expect(rep.steps.some((st: any) => st.paused)).toBe(true);
    expect(rep.steps.filter((st: any) => st.byRevision).map((st: any) => st.byRevision.v2)).toEqual([30, 100]);
    expect(rep.warnings.some((w: string) => w.startsWith('continued at step'))).toBe(true);
  });

  it('abort from a later job rolls a stopped deploy back', async () => {
    const d = await p.run(['deploy', '--revision', 'v3', '--until-pause']);
    expect(d.code, explain(d)).toBe(6);
    const abort = await p.run(['abort']);
    expect(abort.code, explain(abort)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ v2: 100 });
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
    console.log(`--until-pause / promote / abort under load: ${total.requests} requests, 0 failed`);
  });
});
