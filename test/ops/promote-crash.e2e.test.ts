import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, unrecordedProcesses, type LocalProject } from '../local/e2e-project.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Promise 3 and 10 for the `zdd promote` that continues a deploy stopped by `--until-pause`
 * (local provider, built binary, under load): killed -9 at each step it runs, traffic keeps
 * flowing with zero failed requests, `zdd status` tells the step, the live weights and that the
 * process is gone, and the next `zdd promote` finishes the deploy without skipping what the
 * router undid.
 */
describe('zdd promote after --until-pause, killed -9', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 30, pause: 'manual' }, { weight: 60, pause: '1500ms' }, { weight: 100 }]", replicas: 1 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('at each step promote runs: status tells, the next promote finishes (exit 0), zero failed requests', async () => {
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 200_000, maxRequests: 100_000 });
    const findings: string[] = [];
    let stable = 'v1';
    const planned = await p.run(['plan', '--revision', 'x', '--strategy', 'canary']);
    const plan: any[] = planned.events.find((e) => e.type === 'plan').steps;
    const total = plan.length;
    const manual = plan.findIndex((st) => st.kind === 'pause' && st.durationMs === undefined);
    const full = plan.findIndex((st) => st.kind === 'shiftTraffic' && st.weights?.candidate === 100);
    expect(manual).toBeGreaterThan(0);
    // promote runs the steps after the manual pause: kill it in each of them.
    for (let k = manual + 1; k < total; k++) {
      const t0 = Date.now();
      const candidate = `c${k}`;
      const paused = await p.run(['deploy', '--revision', candidate, '--strategy', 'canary', '--until-pause']);
      expect(paused.code, explain(paused)).toBe(6);
      expect(paused.events.find((e) => e.type === 'paused')?.index).toBe(manual);

      const promote = p.start(['promote']);
      const atStep = await promote.waitForEvent((e) => e.type === 'step.start' && e.index === k && e.phase === 'deploy');
      await sleep(atStep.step.kind === 'pause' ? 700 : 20);
      promote.child.kill('SIGKILL');
      const killed = await promote.done;
      expect(killed.signal).toBe('SIGKILL');
      const killedAt = Date.now();

      const status = await p.run(['status']);
      expect(status.code, explain(status)).toBe(0);
      const s = status.events.find((e) => e.type === 'status');
      expect(s.deployment.candidate.id).toBe(candidate);
      const at = s.deployment.inFlight?.index ?? s.deployment.stepIndex;
      expect(at, `status tells the step (promote killed at step ${k + 1}/${total})`).toBeGreaterThanOrEqual(k - 1);
      expect(at).toBeLessThanOrEqual(k + 1);
      const finished = s.deployment.status === 'succeeded';
      if (!finished) {
        expect(s.deployProcess, `status says the process is gone (promote killed at step ${k + 1}/${total})`).toMatchObject({ alive: false });
        expect(s.deployProcess.reason).toContain(`pid ${promote.child.pid}`);
      }

      // The router's dead-man's switch puts stable back when the candidate had traffic and stable still serves.
      const ours = () => p.routerState()!.deadMansSwitchFired?.deploymentId === s.deployment.id;
      let dmsMs = -1;
      const stableServes = p.routerState()!.instances.some((i) => i.revision === stable && i.status === 'ready');
      if (!finished && stableServes) {
        await expect.poll(() => ours() && p.routerState()!.weights, { timeout: 5_000, interval: 50 }).toEqual({ [stable]: 100 });
        dmsMs = Date.parse(p.routerState()!.deadMansSwitchFired!.at) - killedAt;
      }
      const before = load.report();
      await sleep(300);
      expect(load.report().requests - before.requests, 'traffic keeps flowing with zdd gone').toBeGreaterThan(20);

      let finish = 'nothing (it had finished)';
      if (!finished) {
        const next = await p.run(['promote']);
        expect(next.code, `promote after a kill at step ${k + 1}/${total}: ${explain(next)}`).toBe(0);
        expect(p.routerState()!.weights).toEqual({ [candidate]: 100 });
        const shifts = next.events.filter((e) => e.type === 'traffic' && e.verified).map((e) => e.byRevision[candidate]);
        // Killed before the candidate had 100% and the router put stable back: the next promote
        // sets the recorded split again and bakes it, instead of jumping from 0% to 100%.
        if (dmsMs >= 0 && k < full) {
          expect(shifts[0], `first weight the next promote sets (killed at step ${k + 1}): ${shifts.join(', ')}`).toBeLessThan(100);
          expect(next.events.some((e) => e.type === 'step.done' && plan[e.index]?.kind === 'pause' && e.index > k - 1)).toBe(true);
        }
        finish = `promote exit ${next.code} (candidate weights set: ${shifts.join(' → ')})`;
      }
      stable = candidate;
      findings.push(
        `step ${k + 1}/${total} (${atStep.step.kind}): promote pid ${promote.child.pid} ${killed.signal}; status step ${at + 1}, live ${JSON.stringify(s.live.weights)}, process gone: ${s.deployProcess?.alive === false}; ` +
          `dead-man's switch ${dmsMs >= 0 ? `restored stable after ${dmsMs}ms` : 'did not act'}; finished by ${finish}; round ${Date.now() - t0}ms`,
      );
    }
    console.log(findings.join('\n'));
    expect(unrecordedProcesses(p)).toEqual([]);
    const r = await load.stop();
    load = undefined;
    console.log(`promote kill -9 rounds under load: ${r.requests} requests, ${failedRequests(r)} failed`);
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });

  it('status --watch of a deploy stopped by --until-pause ends at once: exit 6, nobody waits at the pause', async () => {
    const paused = await p.run(['deploy', '--revision', 'p1', '--strategy', 'canary', '--until-pause']);
    expect(paused.code, explain(paused)).toBe(6);
    const w = await Promise.race([p.run(['status', '--watch']), sleep(10_000).then(() => null)]);
    expect(w, 'the watch did not wait for a pause nobody waits at').not.toBeNull();
    expect(w!.code, explain(w!)).toBe(6);
    expect(w!.events.at(-1)).toMatchObject({ type: 'done', result: 'paused', exitCode: 6 });
    expect(w!.events.at(-1).message).toMatch(/of p1 stands at its pause and no zdd process waits at it/);
    expect(w!.events.at(-1).hint).toMatch(/zdd promote.*zdd abort/);
    const abort = await p.run(['abort']);
    expect(abort.code, explain(abort)).toBe(0);
  });
});
