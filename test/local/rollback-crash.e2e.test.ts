import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, unrecordedProcesses, type LocalProject } from './e2e-project.js';

/**
 * Issue 8 "done when": kill -9 at every step of a rollback — a deploy's rollback and a
 * restore-previous `zdd rollback` — under load on the local provider. The next `zdd rollback`
 * finishes, no request fails, and nothing runs that no record names. One project, one router and
 * one load run for the whole file.
 */
/** Revisions with weight (the router also lists a kept revision at 0). */
function serving(p: LocalProject): Record<string, number> {
  return Object.fromEntries(Object.entries(p.routerState()!.weights).filter(([, w]) => w > 0));
}

describe('local provider: a killed rollback', { timeout: 300_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;

  beforeAll(async () => {
    // The router's dead-man's switch is off: it would put stable back on its own within a second of
    // each killed deploy (tested in background-crash), racing the moment this test reads the 30% and
    // taking the rollback steps it kills out of their real starting point.
    p = await localProject({ canarySteps: "[{ weight: 30, pause: '1500ms' }, { weight: 100 }]", replicas: 1, localProviderExtra: 'deadMansSwitch: false' });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 3, ratePerClient: 100, maxDurationMs: 280_000, maxRequests: 200_000 });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  /** Kill `zdd rollback` when it starts step `k` of the given phase; returns that phase's step count. */
  async function killRollbackAt(k: number, phase: 'rollback' | 'deploy'): Promise<number> {
    const rollback = p.start(['rollback']);
    const at = await rollback.waitForEvent((e) => e.type === 'step.start' && e.phase === phase && e.index === k);
    // Killed as the step starts: its router or platform call may or may not have landed.
    rollback.child.kill('SIGKILL');
    const ended = await rollback.done;
    expect(ended.signal, `step ${k + 1} (${at.step.kind}) of ${phase}: ${explain(ended)}`).toBe('SIGKILL');
    return at.total;
  }

  it("kill -9 of `zdd rollback` at each step of a deploy's rollback: the next `zdd rollback` finishes, stable 100%", async () => {
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      const candidate = `c${k}`;
      const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'canary']);
      await deploy.waitForEvent((e) => e.type === 'step.start' && e.step.kind === 'pause');
      deploy.child.kill('SIGKILL');
      await deploy.done;
      expect(p.routerState()!.weights[candidate]).toBe(30);

      total = await killRollbackAt(k, 'rollback');
      const next = await p.run(['rollback']);
      const where = `rollback killed at step ${k + 1}/${total}`;
      expect(next.code, `${where}: ${explain(next)}`).toBe(0);
      expect(serving(p), where).toEqual({ v1: 100 });
      expect(p.routerState()!.instances.filter((i) => i.revision === candidate), where).toEqual([]);
    }
    expect(total).toBeGreaterThanOrEqual(3);
    expect(unrecordedProcesses(p)).toEqual([]);
  });

  it('kill -9 of a restore-previous `zdd rollback` at each step: the next `zdd rollback` finishes the restore', async () => {
    let stable = 'v1';
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      const candidate = `b${k}`;
      const deploy = await p.run(['deploy', '--revision', candidate, '--strategy', 'blue-green']);
      expect(deploy.code, explain(deploy)).toBe(0);
      expect(serving(p)).toEqual({ [candidate]: 100 });

      total = await killRollbackAt(k, 'deploy');
      const next = await p.run(['rollback']);
      const where = `restore ${candidate} → ${stable} killed at step ${k + 1}/${total}`;
      expect(next.code, `${where}: ${explain(next)}`).toBe(0);
      const done = next.events.find((e) => e.type === 'done');
      expect(done.message, where).toContain(`Rolled back to ${stable}`);
      expect(serving(p), where).toEqual({ [stable]: 100 });
      expect(p.routerState()!.instances.filter((i) => i.revision === candidate), where).toEqual([]);
    }
    expect(total).toBeGreaterThanOrEqual(3);
    expect(unrecordedProcesses(p)).toEqual([]);
    const r = await load!.stop();
    load = undefined;
    expect(r.requests).toBeGreaterThan(1000);
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });
});
