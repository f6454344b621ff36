import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { explain } from '../local/e2e-project.js';
import { hostsProject, hostsProviderBlock, type HostsProject } from './haproxy-project.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What zdd's own failures and an HAProxy reload do to a canary behind HAProxy, through the built
 * binary under load. This HAProxy has no server-state-file: a reload loses every Runtime API change
 * (HAProxy answers 503 until zdd writes again), the case docs/haproxy.md warns about.
 */
describe.skipIf(skipWithoutHaproxy())('hosts + haproxy router: kill -9 and reloads mid-canary (built binary)', { timeout: 240_000 }, () => {
  let h: Haproxy;
  let p: HostsProject;
  let laptop: HostsProject;

  beforeAll(async () => {
    h = await startHaproxy({ serverStateFile: false });
    const home = mkdtempSync(join(tmpdir(), 'zdd-hosts-home-'));
    const provider = await hostsProviderBlock(h, home);
    p = await hostsProject(h, { home, provider, canarySteps: "[{ weight: 30, pause: '3s' }, { weight: 100 }]" });
    // Another checkout of the same config (a laptop), sharing the state directory.
    laptop = await hostsProject(h, { home, provider, canarySteps: "[{ weight: 30, pause: '3s' }, { weight: 100 }]", extra: `state: { type: 'file', dir: ${JSON.stringify(join(p.dir, '.zdd'))} },` });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await laptop?.cleanup();
    await p?.cleanup();
    await h?.stop();
  });

  it('kill -9 of zdd mid-canary, then `zdd rollback` from another directory: v1 100% in HAProxy, the candidate stopped, zero failed requests', async () => {
    const load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 150, maxDurationMs: 60_000 });
    const deploy = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    await deploy.waitForEvent((e) => e.type === 'traffic' && e.verified && e.byRevision.v2 === 30, 60_000);
    deploy.child.kill('SIGKILL');
    expect((await deploy.done).signal).toBe('SIGKILL');
    const status = await laptop.run(['status']);
    expect(status.code, explain(status)).toBe(0);
    const t0 = Date.now();
    const rollback = await laptop.run(['rollback', '--yes']);
    expect(rollback.code, explain(rollback)).toBe(0);
    console.log(`zdd rollback from another directory after kill -9: ${Date.now() - t0}ms`);
    const snap = await laptop.run(['status']);
    expect(snap.events.find((e) => e.type === 'status')?.live?.weights).toEqual({ v1: 100 });
    const r = await load.stop();
    console.log(`kill -9 + rollback: ${r.requests} requests, ${failedRequests(r)} failed ${JSON.stringify(r.connectionErrorKinds)}`);
    expect(failedRequests(r)).toBe(0);
    expect(p.instancePids()).toHaveLength(2);
  });

  it('HAProxy reloaded mid-canary without a state file: the deploy writes its weights again within one watch tick and finishes; only HAProxy\'s own 503s of the gap fail', async () => {
    const load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 150, maxDurationMs: 60_000 });
    const deploy = p.start(['deploy', '--revision', 'v3', '--strategy', 'canary']);
    await deploy.waitForEvent((e) => e.type === 'traffic' && e.verified && e.byRevision.v3 === 30, 60_000);
    // The reload lands in the bake, after the shift's observed split: a reload during that probe is
    // test/haproxy/haproxy-reload-probe.e2e.test.ts (a second probe confirms), and reloading right
    // at the verified event raced it.
    await deploy.waitForEvent((e) => e.type === 'info' && /^Observed split at /.test(e.message), 30_000);
    const gap = load.window();
    await h.reload();
    const warned = await deploy.waitForEvent((e) => e.type === 'warn' && /HAProxy reloaded/.test(e.message), 10_000);
    expect(warned.message).toMatch(/lost zdd's changes[\s\S]*writing v\d 70% \| v3 30%|writing v3 30% \| v\d 70%/);
    const r = await deploy.done;
    expect(r.code, explain(r)).toBe(0);
    const inGap = gap.close();
    const total = await load.stop();
    console.log(`reload without state file: ${total.requests} requests, ${failedRequests(total)} failed (503 from HAProxy: ${total.byStatus[503] ?? 0}, connection errors: ${total.connectionErrors}); from the reload to the end: ${failedRequests(inGap)}`);
    expect(total.connectionErrors).toBe(0);
    expect(failedRequests(total)).toBe(total.byStatus[503] ?? 0);
  });

  it('a reload while no deploy runs: status shows HAProxy without weights, the next deploy refuses to start (exit 2), and a forced deploy puts traffic back', async () => {
    await h.reload();
    const status = await p.run(['status']);
    expect(status.events.find((e) => e.type === 'status')?.live?.weights).toEqual({});
    const deploy = await p.run(['deploy', '--revision', 'v4', '--strategy', 'blue-green']);
    expect(deploy.code, explain(deploy)).toBe(2);
    expect(explain(deploy)).toMatch(/not in a state zdd would start a deploy from/);
    const t0 = Date.now();
    const forced = await p.run(['deploy', '--revision', 'v4', '--strategy', 'blue-green', '--force']);
    expect(forced.code, explain(forced)).toBe(0);
    console.log(`forced deploy after a reload that lost the weights: ${Date.now() - t0}ms`);
    const served = await startLoad({ url: p.url, concurrency: 2, maxRequests: 100 }).done;
    expect(failedRequests(served)).toBe(0);
    expect(served.byRevision).toEqual({ v4: 100 });
  });
});
