import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, sharePercent, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { isAlive } from '../../src/providers/local/processes.js';
import { explain, loadPerStep, localProject, type LocalProject } from './e2e-project.js';

/**
 * The README story through the built binary against real processes, under continuous keep-alive
 * load: every strategy, a bad canary, a crashing revision and a manual rollback, with zero failed
 * requests (the bad app's own 500s aside) and the candidate's share within ±5 points at each step.
 */
describe('local provider: the story under load', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun;
  const isBad = (rev: string) => rev.includes('bad');

  beforeAll(async () => {
    p = await localProject();
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('deploys v1, then canary, blue-green, rolling, a bad canary, a crash and a manual rollback with zero failed requests', async () => {
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);

    load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 150, maxDurationMs: 180_000, maxRequests: 150_000 });

    // canary: share of the candidate at each step
    const canary = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    const steps = await loadPerStep(canary, 'v2', load);
    const r2 = await canary.done;
    expect(r2.code, explain(r2)).toBe(0);
    const measured = steps.filter((s) => s.weight > 0 && s.weight < 100 && s.report.requests > 100);
    expect(measured.map((s) => s.weight)).toEqual([20, 50]);
    for (const s of measured) {
      const share = sharePercent(s.report, 'v2');
      console.log(`canary step ${s.weight}%: candidate share ${share.toFixed(2)}% over ${s.report.requests} requests`);
      expect(Math.abs(share - s.weight), `candidate share ${share.toFixed(1)}% at weight ${s.weight}% over ${s.report.requests} requests`).toBeLessThanOrEqual(5);
    }

    // Each shift was also checked from outside: real requests at the router's port, counted by x-zdd-revision.
    const observed = explain(r2).match(/Observed split at http:\/\/[^:]+:\d+: [^\n]*/g) ?? [];
    expect(observed.map((l) => l.replace(/^.*?: /, '').replace(/ \d+ \(set/g, ' n (set'))).toEqual([
      'v1 n (set 80%), v2 n (set 20%) of 100 answers',
      'v1 n (set 50%), v2 n (set 50%) of 100 answers',
      'v2 n (set 100%) of 100 answers',
    ]);

    const r3 = await p.run(['deploy', '--revision', 'v3', '--strategy', 'blue-green']);
    expect(r3.code, explain(r3)).toBe(0);
    const r4 = await p.run(['deploy', '--revision', 'v4', '--strategy', 'rolling']);
    expect(r4.code, explain(r4)).toBe(0);

    const bad = await p.run(['deploy', '--revision', 'v5-bad', '--strategy', 'canary']);
    expect(bad.code, explain(bad)).toBe(1);
    expect(explain(bad)).toMatch(/candidate-errors/);

    const crash = await p.run(['deploy', '--revision', 'v6-crash', '--strategy', 'canary']);
    expect(crash.code, explain(crash)).toBe(1);
    expect(explain(crash)).toMatch(/exited with code 3 while starting[\s\S]*crashing at start on purpose/);
    expect(p.routerState()!.instances.filter((i) => i.revision === 'v6-crash')).toEqual([]);

    const rb = await p.run(['rollback']);
    expect(rb.code, explain(rb)).toBe(0);
    expect(p.routerState()!.weights).toMatchObject({ v3: 100 });

    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total, { allow5xxFrom: isBad }), JSON.stringify(total.byStatus)).toBe(0);
    expect(total.byRevision['v5-bad'] ?? 0).toBeGreaterThan(0);
    expect(total.byRevision['v6-crash'] ?? 0).toBe(0);
    expect(total.requests).toBeGreaterThan(2_000);

    const status = await p.run(['status']);
    expect(status.code, explain(status)).toBe(0);
    expect(status.stdout + status.stderr).toMatch(/v3/);

    const pids = p.recordedPids();
    const down = await p.run(['down']);
    expect(down.code, explain(down)).toBe(0);
    expect(pids.filter((pid) => isAlive(pid))).toEqual([]);
    expect(p.routerState()).toBeNull();
  });
});
