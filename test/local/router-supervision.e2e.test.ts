import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadReport, type LoadRun } from '../helpers/load-generator.js';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { isAlive } from '../../src/providers/local/processes.js';
import type { RouterState } from '../../src/providers/local/router-state.js';
import { explain, localProject, type LocalProject } from './e2e-project.js';

const CONCURRENCY = 4;

/**
 * Issue 9 through the built binary, under load on 127.0.0.1: no single router process crash
 * refuses a connection (with or without a zdd command running), a running deploy survives it,
 * a paused (slow) router is never killed, and the dead-man's switch puts traffic back on stable
 * when the deploy holding the lock dies.
 */
describe('local router: two processes that restart each other', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;
  let n = 1;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 30, pause: '2500ms' }, { weight: 60, pause: '2500ms' }, { weight: 100 }]", replicas: 2 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  /** Resolves at the start of the k-th pause step (1-based) of a running deploy. */
  function pause(run: ReturnType<LocalProject['start']>, k: number): Promise<unknown> {
    let seen = 0;
    return run.waitForEvent((e) => e.type === 'step.start' && e.phase === 'deploy' && e.step.kind === 'pause' && ++seen === k, 60_000);
  }

  const refused = (r: LoadReport) => Object.entries(r.connectionErrorKinds).filter(([k]) => /ECONNREFUSED/.test(k)).reduce((a, [, c]) => a + c, 0);

  /** Wait until the router process `which` has a new pid (restarted by the other one) and the admin answers. */
  async function waitRestarted(which: 'routerPid' | 'secondaryPid', old: number): Promise<number> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const s = p.routerState();
      const pid = s?.[which];
      if (pid && pid !== old && isAlive(pid)) return pid;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${which} was not restarted within 20s (still ${old})`);
  }

  /** Under load, a canary of a new revision at its first pause (30% on the candidate). */
  async function canaryAtFirstPause(): Promise<{ stable: string; deploy: ReturnType<LocalProject['start']>; running: LoadRun }> {
    const stable = Object.entries(p.routerState()!.weights).find(([, w]) => w === 100)![0];
    const running = startLoad({ url: p.url, concurrency: CONCURRENCY, ratePerClient: 100, maxDurationMs: 60_000, maxRequests: 50_000 });
    load = running;
    const candidate = `v${++n}`;
    const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'canary']);
    await pause(deploy, 1);
    expect(p.routerState()!.weights[candidate]).toBe(30);
    return { stable, deploy, running };
  }

  /** The router's state once `stable` has 100% again (or after 10 s), and how long that took from `since`. */
  async function untilStableAgain(stable: string, since: number): Promise<{ state: RouterState; tookMs: number }> {
    let state = p.routerState()!;
    while (state.weights[stable] !== 100 && Date.now() - since < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
      state = p.routerState()!;
    }
    return { state, tookMs: Date.now() - since };
  }

  it('kill -9 of the primary, then of the secondary, mid-canary: zero refused, the deploy finishes, weights as recorded', async () => {
    load = startLoad({ url: p.url, concurrency: CONCURRENCY, ratePerClient: 100, maxDurationMs: 120_000, maxRequests: 100_000 });
    const candidate = `v${++n}`;
    const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'canary']);
    const kills: string[] = [];
    const pauses = [pause(deploy, 1), pause(deploy, 2)];
    for (const [k, which] of [
      [0, 'routerPid'],
      [1, 'secondaryPid'],
    ] as const) {
      await pauses[k];
      await new Promise((r) => setTimeout(r, 300));
      const before = p.routerState()!;
      const pid = before[which]!;
      expect(isAlive(pid), `${which} ${pid} runs`).toBe(true);
      process.kill(pid, 'SIGKILL');
      kills.push(`${which} ${pid}`);
      const next = await waitRestarted(which, pid);
      const after = p.routerState()!;
      expect(after.weights, `weights as recorded after the ${which} restart`).toEqual(before.weights);
      expect(after.testRoute).toEqual(before.testRoute);
      expect(next).not.toBe(pid);
    }
    const done = await deploy.done;
    expect(done.code, explain(done)).toBe(0);
    expect(p.routerState()!.weights[candidate]).toBe(100);

    const r = await load.stop();
    load = undefined;
    expect(refused(r), `no connection refused (${kills.join(', ')}): ${JSON.stringify(r.connectionErrorKinds)}`).toBe(0);
    // At most the requests in flight on each killed process (one per client connection).
    expect(failedRequests(r), JSON.stringify({ kinds: r.connectionErrorKinds, status: r.byStatus })).toBeLessThanOrEqual(2 * CONCURRENCY);
    expect(r.requests).toBeGreaterThan(500);
  });

  it('kill -9 of either router process with no zdd command running: zero refused, the same weights and test route', async () => {
    const admin = new AdminClient(p.routerState()!.socketPath);
    const serving = Object.keys(p.routerState()!.weights)[0];
    await admin.call('PUT', '/test-route', { revision: serving });
    for (const which of ['routerPid', 'secondaryPid'] as const) {
      load = startLoad({ url: p.url, concurrency: CONCURRENCY, ratePerClient: 100, maxDurationMs: 60_000, maxRequests: 50_000 });
      await new Promise((r) => setTimeout(r, 300));
      const before = p.routerState()!;
      process.kill(before[which]!, 'SIGKILL');
      await waitRestarted(which, before[which]!);
      await new Promise((r) => setTimeout(r, 300));
      const r = await load.stop();
      load = undefined;
      expect(refused(r), `${which}: ${JSON.stringify(r.connectionErrorKinds)}`).toBe(0);
      expect(failedRequests(r)).toBeLessThanOrEqual(CONCURRENCY);
      expect(p.routerState()!.weights).toEqual(before.weights);
      expect(p.routerState()!.testRoute).toBe(serving);
      const tested = await startLoad({ url: p.url, concurrency: 1, maxRequests: 20, headers: { 'X-Canary': p.routerState()!.testValue } }).done;
      expect(tested.byRevision).toEqual({ [serving]: 20 });
      const status = await p.run(['status']);
      const report = status.events.find((e) => e.type === 'status');
      expect(report.live.notes.join('\n')).toMatch(/router pids \d+ \(primary\) and \d+ \(secondary\)/);
    }
    await new AdminClient(p.routerState()!.socketPath).call('PUT', '/test-route', { revision: null });
  });

  it('SIGSTOP of the router for 1.5 s during zdd deploy: the same pid afterwards, zero failed', async () => {
    load = startLoad({ url: p.url, concurrency: CONCURRENCY, ratePerClient: 100, maxDurationMs: 60_000, maxRequests: 50_000 });
    const pid = p.routerState()!.routerPid!;
    const candidate = `v${++n}`;
    const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'blue-green']);
    await deploy.waitForEvent((e) => e.type === 'step.start' && e.step.kind !== 'provision', 60_000);
    process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(pid, 'SIGCONT');
    const done = await deploy.done;
    const r = await load.stop();
    load = undefined;
    expect(done.code, explain(done)).toBe(0);
    expect(p.routerState()!.routerPid, 'a slow router is not killed').toBe(pid);
    expect(isAlive(pid)).toBe(true);
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });

  it("dead-man's switch: kill -9 of zdd mid-canary puts 100% back on stable within lease + one poll, status says why", async () => {
    const { stable, deploy, running } = await canaryAtFirstPause();
    deploy.child.kill('SIGKILL');
    const killedAt = Date.now();
    await deploy.done;
    // The holder's process is gone: the lock is stale at once; one poll (1 s) plus a margin for a busy machine.
    const { state, tookMs } = await untilStableAgain(stable, killedAt);
    expect(state.weights).toEqual({ [stable]: 100 });
    expect(tookMs).toBeLessThan(5_000);
    expect(state.deadMansSwitchFired?.restored).toBe(stable);
    expect(state.deadMansSwitchFired?.reason).toMatch(/no longer running/);

    const status = await p.run(['status']);
    const report = status.events.find((e) => e.type === 'status');
    expect(report.live.notes.join('\n')).toMatch(new RegExp(`dead-man's switch at .*put 100% back on ${stable}`));
    const rb = await p.run(['rollback']);
    expect(rb.code, explain(rb)).toBe(0);
    const r = await running.stop();
    load = undefined;
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ [stable]: 100 });
  });

  it("dead-man's switch on lease expiry: a frozen zdd loses its lock to the switch, and on waking stops (exit 4) without undoing it", async () => {
    const { stable, deploy, running } = await canaryAtFirstPause();
    // Frozen (a VM pause, a laptop lid): its pid is alive, only its lease can run out. The lease
    // (120 s plus 30 s for clocks) is not waited for: its last heartbeat is aged as if it had.
    deploy.child.kill('SIGSTOP');
    const lockDir = join(p.dir, '.zdd/web/lock');
    const current = join(lockDir, readdirSync(lockDir).filter((f) => /^\d{12}\.json$/.test(f)).sort().at(-1)!);
    const lock = JSON.parse(readFileSync(current, 'utf8'));
    expect(lock.holder.pid).toBe(deploy.child.pid);
    lock.heartbeat = new Date(Date.now() - 151_000).toISOString();
    writeFileSync(current, JSON.stringify(lock));
    const { state } = await untilStableAgain(stable, Date.now());
    expect(state.weights).toEqual({ [stable]: 100 });
    expect(state.deadMansSwitchFired?.reason).toMatch(/stopped answering: no heartbeat for 15\ds \(lease 120s\)/);

    deploy.child.kill('SIGCONT');
    const done = await deploy.done;
    expect(done.code, explain(done)).toBe(4);
    expect(done.stderr, explain(done)).toMatch(/Lost the lock of service "web": the local router's dead-man's switch took it at \S+ and put traffic back on stable/);
    expect(p.routerState()!.weights, 'the woken deploy changed nothing').toEqual({ [stable]: 100 });
    const rb = await p.run(['rollback']);
    expect(rb.code, explain(rb)).toBe(0);
    const r = await running.stop();
    load = undefined;
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ [stable]: 100 });
  });

  it("dead-man's switch off (provider.deadMansSwitch: false): the weights stay as the dead deploy left them", async () => {
    const config = join(p.dir, 'deploy.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace("stopGrace: '2s',", "stopGrace: '2s', deadMansSwitch: false,"));
    const candidate = `v${++n}`;
    const deploy = p.start(['deploy', '--revision', candidate, '--strategy', 'canary']);
    await pause(deploy, 1);
    deploy.child.kill('SIGKILL');
    await deploy.done;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(p.routerState()!.weights[candidate]).toBe(30);
    expect(p.routerState()!.deadMansSwitch).toBeUndefined();
    const rb = await p.run(['rollback']);
    expect(rb.code, explain(rb)).toBe(0);
  });
});
