import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { isAlive } from '../../src/providers/local/processes.js';
import { explain, localProject, unrecordedProcesses, type LocalProject, type ZddResult } from '../local/e2e-project.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The NDJSON events of a --detach log (human lines in between skipped). */
function logEvents(path: string): any[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line still being written
      }
    });
}

/** Polls the log every 10 ms (bounded) until an event matches. */
async function waitInLog(path: string, pred: (e: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = logEvents(path).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching event in ${path} within ${timeoutMs}ms:\n${readFileSync(path, 'utf8').slice(-2000)}`);
    await sleep(10);
  }
}

function statusOf(r: ZddResult): any {
  return r.events.find((e) => e.type === 'status');
}

/**
 * Promise 3 and 10 for zdd's own background processes, on the local provider through the built
 * binary, under load: the process of `zdd deploy --detach` killed -9 at each step of a canary, and
 * `zdd status --watch` following a detached deploy (to its end, and to its process's death).
 */
describe('background deploy (--detach) killed -9', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;
  const bgPids: number[] = [];

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 30, pause: '1500ms' }, { weight: 100 }]", replicas: 1 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    for (const pid of bgPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await load?.stop();
    await p?.cleanup();
  });

  /** Starts a detached canary of `candidate`, returns its background pid and log. */
  async function detach(candidate: string, logName: string): Promise<{ pid: number; log: string }> {
    const d = await p.run(['deploy', '--revision', candidate, '--strategy', 'canary', '--detach', '--log', logName]);
    expect(d.code, explain(d)).toBe(0);
    const pid = Number(/pid (\d+)/.exec(d.events.at(-1).message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    bgPids.push(pid);
    return { pid, log: join(p.dir, logName) };
  }

  it('at each step: zero failed requests, status says the process is gone, the router puts stable back, rollback (or promote) finishes', async () => {
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 200_000, maxRequests: 100_000 });
    const findings: string[] = [];
    // Each kind of step once where the router's state differs (before traffic, at a split, mid-bake,
    // at 100%, retiring); the test route and smoke gate steps are killed in the foreground by
    // crash-recovery.e2e, and a detached process dies no differently there.
    let toVisit = [0];
    const killedIn: string[] = [];
    for (let round = 0; round < toVisit.length; round++) {
      const k = toVisit[round];
      const t0 = Date.now();
      const candidate = `c${k}`;
      const { pid, log } = await detach(candidate, `bg-${k}.log`);
      const plan: { kind: string }[] = (await waitInLog(log, (e) => e.type === 'deploy.start')).steps;
      const total = plan.length;
      if (round === 0) toVisit = plan.map((step, i) => (i === 0 || !['testRoute', 'gate'].includes(step.kind) ? i : -1)).filter((i) => i >= 0);
      const atStep = await waitInLog(log, (e) => e.type === 'step.start' && e.index === k && e.phase === 'deploy');
      killedIn.push(atStep.step.kind);
      // Inside the step: half-way through a bake; others are caught in flight or just after.
      await sleep(atStep.step.kind === 'pause' ? 700 : 20);
      process.kill(pid, 'SIGKILL');
      const killedAt = Date.now();
      const lastLogged = logEvents(log).at(-1);

      // At once (before the router's switch acts): status tells the step, the live weights and that the process is gone.
      const now = await p.run(['status']);
      expect(now.code, explain(now)).toBe(0);
      const s = statusOf(now);
      expect(s.deployment.candidate.id).toBe(candidate);
      const at = s.deployment.inFlight?.index ?? s.deployment.stepIndex;
      expect(at, `status tells the step (killed at step ${k + 1}/${total})`).toBeGreaterThanOrEqual(Math.max(0, k - 1));
      // The log is read by polling, so the process may have gone on a few short steps before the kill landed.
      const reached = Math.max(k, ...logEvents(log).filter((e) => e.type === 'step.start' && e.phase === 'deploy').map((e) => e.index as number));
      expect(at).toBeLessThanOrEqual(reached + 1);
      const finished = s.deployment.status === 'succeeded';
      if (!finished) {
        expect(s.deployProcess, `status says the deploy's process is gone (killed at step ${k + 1}/${total})`).toMatchObject({ alive: false });
        expect(s.deployProcess.reason).toContain(`pid ${pid}`);
        // ...and which log it was writing: the log itself stops mid-step, with no result line.
        expect(s.deployProcess.reason).toContain(`--log ${log}`);
      }
      // The log is cut off mid-run: it holds no result (the process could not write one); status is where the death shows.
      expect(logEvents(log).some((e) => e.type === 'done'), 'a killed process writes no result').toBe(finished);

      // The router's dead-man's switch: when the candidate had traffic and stable still serves
      // (not yet draining), stable has 100% back within about a second of the kill.
      const fired = () => p.routerState()!.deadMansSwitchFired;
      const ours = () => fired()?.deploymentId === s.deployment.id;
      const candidateHadTraffic = (s.live.weights[candidate] ?? 0) > 0 || ours();
      let dmsMs = -1;
      const stableServes = p.routerState()!.instances.some((i) => i.revision === 'v1' && i.status === 'ready');
      if (!finished && candidateHadTraffic && stableServes) {
        await expect.poll(() => ours() && p.routerState()!.weights, { timeout: 5_000, interval: 50, message: `dead-man's switch after a kill at step ${k + 1}/${total}, status live ${JSON.stringify(s.live.weights)}: router ${JSON.stringify(p.routerState())}` }).toEqual({ v1: 100 });
        dmsMs = Date.parse(fired()!.at) - killedAt;
        const after = statusOf(await p.run(['status']));
        expect(after.live.notes.join('\n')).toMatch(new RegExp(`dead-man's switch at .*pid ${pid}.* is no longer running; the router put 100% back on v1`));
        expect(after.deployProcess).toMatchObject({ alive: false });
        expect(after.lock).toBeNull();
      }
      const split = Object.values(p.routerState()!.weights).some((w) => w > 0 && w < 100);

      const before = load.report();
      await sleep(300);
      expect(load.report().requests - before.requests, 'traffic keeps flowing with zdd gone').toBeGreaterThan(20);

      let finish = 'nothing (it had finished)';
      if (!finished) {
        const cmd = (p.routerState()!.weights[candidate] ?? 0) === 100 && !split ? 'promote' : 'rollback';
        const r = await p.run([cmd]);
        expect(r.code, `${cmd} after a kill at step ${k + 1}/${total}: ${explain(r)}`).toBe(0);
        finish = `${cmd} exit ${r.code}`;
        const w = p.routerState()!.weights;
        if (cmd === 'rollback') {
          expect(w).toEqual({ v1: 100 });
          expect(p.routerState()!.instances.filter((i) => i.revision === candidate)).toEqual([]);
        } else {
          expect(w).toEqual({ [candidate]: 100 });
          // The next rounds start from v1 again.
          const back = await p.run(['rollback']);
          expect(back.code, explain(back)).toBe(0);
          expect(p.routerState()!.weights).toEqual({ v1: 100 });
        }
      }
      findings.push(
        `step ${k + 1}/${total} (${atStep.step.kind}): killed pid ${pid}; log ends with ${lastLogged?.type}; status step ${at + 1}, live ${JSON.stringify(s.live.weights)}, process gone: ${s.deployProcess?.alive === false}; ` +
          `dead-man's switch ${dmsMs >= 0 ? `restored v1 after ${dmsMs}ms` : 'did not act'}; finished by ${finish}; round ${Date.now() - t0}ms`,
      );
    }
    console.log(findings.join('\n'));
    expect(killedIn).toEqual(['provision', 'shiftTraffic', 'pause', 'shiftTraffic', 'retire']);
    expect(unrecordedProcesses(p)).toEqual([]);
    const r = await load.stop();
    load = undefined;
    console.log(`detach kill -9 rounds under load: ${r.requests} requests, ${failedRequests(r)} failed`);
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });

  it('status --watch follows a detached deploy step by step and ends with its result (exit 0)', async () => {
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 60_000, maxRequests: 30_000 });
    const { pid, log } = await detach('w1', 'watch-ok.log');
    const watch = p.start(['status', '--watch']);
    const seen: string[] = [];
    watch.onEvent((e) => {
      if (e.type !== 'status' || !e.deployment) return;
      const d = e.deployment;
      const at = `${d.status}@${(d.inFlight?.index ?? d.stepIndex) + 1}`;
      if (seen.at(-1) !== at) seen.push(at);
    });
    const started = Date.now();
    const w = await watch.done;
    expect(w.code, explain(w)).toBe(0);
    expect(w.events.at(-1)).toMatchObject({ type: 'done', result: 'succeeded', exitCode: 0 });
    expect(w.events.at(-1).message).toMatch(/Deploy .* of w1 ended: succeeded/);
    // It saw the deploy move (at least the bake and the end), and ended with it.
    expect(seen.length, seen.join(' ')).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).toMatch(/^succeeded@/);
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
    expect(logEvents(log).at(-1)).toMatchObject({ type: 'done', result: 'succeeded', exitCode: 0 });
    console.log(`watch (success) followed ${seen.join(' → ')} in ${Date.now() - started}ms`);
    // Back to v1 for the next case.
    const back = await p.run(['rollback']);
    expect(back.code, explain(back)).toBe(0);
    const r = await load.stop();
    load = undefined;
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });

  it('status --watch of a detached deploy that is aborted ends with its result: rolled back, exit 1', async () => {
    const { pid } = await detach('w3', 'watch-abort.log');
    const watch = p.start(['status', '--watch']);
    await watch.waitForEvent((e) => e.type === 'status' && e.deployment?.plan[e.deployment.inFlight?.index ?? -1]?.kind === 'pause', 30_000);
    const abort = await p.run(['abort']);
    expect(abort.code, explain(abort)).toBe(0);
    const w = await Promise.race([watch.done, sleep(20_000).then(() => null)]);
    expect(w, 'the watch ended with the deploy').not.toBeNull();
    expect(w!.code, explain(w!)).toBe(1);
    expect(w!.events.at(-1)).toMatchObject({ type: 'done', result: 'rolled-back', exitCode: 1 });
    expect(w!.events.at(-1).message).toMatch(/of w3 ended: rolled-back.*Production is on stable v1/);
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
    expect(p.routerState()!.weights).toEqual({ v1: 100 });
  });

  it('status --watch of a detached deploy killed -9 says its process is gone and ends (exit 4) instead of waiting forever', async () => {
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 60_000, maxRequests: 30_000 });
    const { pid, log } = await detach('w2', 'watch-kill.log');
    const watch = p.start(['status', '--watch']);
    // Kill in the bake, once the watch has shown it.
    await watch.waitForEvent((e) => e.type === 'status' && e.deployment?.plan[e.deployment.inFlight?.index ?? -1]?.kind === 'pause', 30_000);
    await waitInLog(log, (e) => e.type === 'bake.progress');
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    const w = await Promise.race([watch.done, sleep(10_000).then(() => null)]);
    expect(w, 'the watch ended by itself').not.toBeNull();
    const endedMs = Date.now() - killedAt;
    expect(w!.code, explain(w!)).toBe(4);
    const done = w!.events.at(-1);
    expect(done).toMatchObject({ type: 'done', result: 'error', exitCode: 4 });
    expect(done.message).toMatch(new RegExp(`Deploy .* of w2 stopped at step \\d+/\\d+: the process that ran it \\(pid ${pid} on .*\\) is gone`));
    expect(done.hint).toMatch(/zdd rollback/);
    expect(done.message).toContain(`--log ${log}`);
    expect(w!.events.filter((e) => e.type === 'status').at(-1).deployProcess).toMatchObject({ alive: false });
    console.log(`watch ended ${endedMs}ms after the kill: exit ${w!.code}: ${done.message}`);

    await expect.poll(() => p.routerState()!.weights, { timeout: 5_000, interval: 50 }).toEqual({ v1: 100 });
    const rb = await p.run(['rollback']);
    expect(rb.code, explain(rb)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ v1: 100 });
    const r = await load.stop();
    load = undefined;
    console.log(`watch cases under load: ${r.requests} requests, ${failedRequests(r)} failed`);
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });
});
