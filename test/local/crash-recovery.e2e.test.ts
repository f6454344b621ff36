import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { isAlive } from '../../src/providers/local/processes.js';
import { explain, localProject, unrecordedProcesses, type LocalProject } from './e2e-project.js';

/**
 * Promise 3 on the local provider under load: kill -9 of zdd at every step of a canary leaves
 * traffic flowing with zero failed requests, `zdd status` tells the step and the live weights, and
 * `zdd rollback` restores stable. Then the router itself is killed: the next command says so and
 * restarts it from its recorded state.
 */
describe('local provider: crashes', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 30, pause: '1500ms' }, { weight: 100 }]", replicas: 1 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('kill -9 of zdd at each step of a canary: traffic keeps flowing, status tells, rollback restores stable', async () => {
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 200_000, maxRequests: 100_000 });
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      const candidate = `c${k}`;
      const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'canary']);
      const start = await deploy.waitForEvent((e) => e.type === 'deploy.start');
      total = start.steps.length;
      const atStep = await deploy.waitForEvent((e) => e.type === 'step.start' && e.index === k && e.phase === 'deploy');
      // Kill inside the step (a bake is half-way through; others are caught in flight).
      await new Promise((r) => setTimeout(r, atStep.step.kind === 'pause' ? 700 : 20));
      deploy.child.kill('SIGKILL');
      const killed = await deploy.done;
      expect(killed.signal).toBe('SIGKILL');

      const before = load.report();
      await new Promise((r) => setTimeout(r, 300));
      const during = load.report();
      expect(during.requests - before.requests, 'traffic keeps flowing with zdd gone').toBeGreaterThan(20);

      // The dead-man's switch may put stable back while status runs: status tells the weights of
      // some moment of its run, the router's before or after.
      const weightsBefore = p.routerState()!.weights;
      const status = await p.run(['status']);
      expect(status.code, explain(status)).toBe(0);
      const report = status.events.find((e) => e.type === 'status');
      const weightsAfter = p.routerState()!.weights;
      expect([weightsBefore, weightsAfter], `status tells the live weights (killed at step ${k + 1}/${total})`).toContainEqual(report.live.weights);
      expect(report.deployment.candidate.id).toBe(candidate);
      const at = report.deployment.inFlight?.index ?? report.deployment.stepIndex;
      expect(at, `status tells the step (killed at step ${k + 1}/${total})`).toBeGreaterThanOrEqual(Math.max(0, k - 1));
      expect(at).toBeLessThanOrEqual(k + 1);

      const rb = await p.run(['rollback']);
      const finalWeights = p.routerState()!.weights;
      if (k < total - 1 || (finalWeights[candidate] ?? 0) < 100) {
        expect(rb.code, explain(rb)).toBe(0);
        expect(p.routerState()!.weights['v1'], `stable holds 100% after rollback (killed at step ${k + 1}/${total})`).toBe(100);
        expect(p.routerState()!.instances.filter((i) => i.revision === candidate)).toEqual([]);
      }
    }
    // Killed commands leave no process the router does not know about.
    expect(unrecordedProcesses(p)).toEqual([]);
    const r = await load.stop();
    load = undefined;
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });

  it('both router processes killed (as by a reboot): the next command says so and restarts it from the recorded state', async () => {
    const before = p.routerState()!;
    expect(isAlive(before.routerPid!)).toBe(true);
    // Either one alone is restarted by the other (router-supervision.e2e.test.ts); both at once are not.
    for (const pid of [before.routerPid!, before.secondaryPid!]) process.kill(pid, 'SIGSTOP');
    for (const pid of [before.routerPid!, before.secondaryPid!]) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    const status = await p.run(['status']);
    const report = status.events.find((e) => e.type === 'status');
    expect(report.live.notes.join('\n')).toMatch(/local router is NOT running/);

    // Production is down while the router is: the deploy restarts it first, and the bake needs traffic.
    const deploy = p.start(['deploy', '--revision', 'v9', '--strategy', 'blue-green']);
    await deploy.waitForEvent((e) => e.type === 'step.start');
    const during = startLoad({ url: p.url, concurrency: 2, ratePerClient: 100, maxDurationMs: 60_000 });
    const next = await deploy.done;
    const seen = await during.stop();
    expect(next.code, explain(next)).toBe(0);
    expect(seen.connectionErrors, JSON.stringify(seen.connectionErrorKinds)).toBe(0);
    expect(failedRequests(seen)).toBe(0);
    const warn = next.events.find((e) => e.type === 'warn' && /was not running/.test(e.message));
    expect(warn?.message).toMatch(/restarting it from .*router\.json with weights v1 100%/);
    const after = p.routerState()!;
    expect(after.routerPid).not.toBe(before.routerPid);
    expect(after.weights['v9']).toBe(100);

    const r = await startLoad({ url: p.url, concurrency: 2, maxRequests: 200 }).done;
    expect(r.byRevision).toEqual({ v9: 200 });
  });
});
