import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';
import { isAlive } from '../../src/providers/local/processes.js';

/**
 * Preflight on the local provider, through the built binary: a deploy refuses (exit 2, nothing
 * changed) to start when the router's weights differ from what zdd last wrote or when stable has
 * lost an instance; `zdd status` shows the drift; `--force` proceeds and the record says so.
 * "Someone else" changing the router is played by a request on its admin socket.
 */
describe('preflight: refuse to start from a state zdd did not leave', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let admin: AdminClient;
  let load: LoadRun;

  beforeAll(async () => {
    p = await localProject({ replicas: 2 });
    const v1 = await p.run(['deploy', '--revision', 'v1']);
    expect(v1.code, explain(v1)).toBe(0);
    // The bakes' analysis needs traffic to conclude.
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 120_000, maxRequests: 30_000 });
    const v2 = await p.run(['deploy', '--revision', 'v2', '--strategy', 'blue-green']);
    expect(v2.code, explain(v2)).toBe(0);
    const sock = join(p.dir, '.zdd/local/web/admin.sock');
    expect(existsSync(sock)).toBe(true);
    admin = new AdminClient(sock);
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('weights changed outside zdd: deploy refuses naming who differs and by how much; status shows it; --force proceeds and records it', async () => {
    // v1 is kept at 0% by blue-green; someone sends it 20% behind zdd's back.
    await admin.call('PUT', '/weights', { weights: { v1: 20, v2: 80 } });
    const r = await p.run(['deploy', '--revision', 'v3']);
    expect(r.code, explain(r)).toBe(2);
    const done = r.events.at(-1);
    expect(done.message).toContain('Traffic differs from what zdd last wrote');
    expect(done.message).toContain('v1 has 20% (zdd wrote 0%, +20 points), v2 has 80% (zdd wrote 100%, -20 points)');
    expect(done.hint).toContain('--force');
    expect(p.routerState()!.weights).toEqual({ v1: 20, v2: 80 });
    expect(Object.keys(p.routerState()!.revisions)).not.toContain('v3');

    const status = await p.run(['status']);
    expect(status.events.find((e) => e.type === 'status').drift).toEqual([expect.stringContaining('v1 has 20% (zdd wrote 0%')]);

    // The hint says what each way out does, with this service's revisions.
    expect(done.hint).toContain('`zdd restore` puts the router back to the weights zdd last wrote (v2 100%)');
    expect(done.hint).toContain('`zdd rollback` releases the previous revision, v1, instead');

    const forced = await p.run(['deploy', '--revision', 'v3', '--strategy', 'blue-green', '--force']);
    expect(forced.code, explain(forced)).toBe(0);
    expect(forced.events.some((e) => e.type === 'warn' && e.message.startsWith('--force: deploying anyway: Traffic differs'))).toBe(true);
    const status2 = await p.run(['status']);
    const record = status2.events.find((e) => e.type === 'status').deployment;
    expect(record.forced.findings).toEqual([expect.stringContaining('Traffic differs from what zdd last wrote')]);
    const history = (await p.run(['history'])).events.find((e) => e.type === 'history');
    expect(history.releases[0]).toMatchObject({ revision: 'v3', forced: true });
    const report = (await p.run(['report'])).events.find((e) => e.type === 'report');
    expect(report.forced).toEqual([expect.stringContaining('Traffic differs')]);
    expect(p.routerState()!.weights).toMatchObject({ v3: 100 });
    expect(p.routerState()!.weights.v1 ?? 0).toBe(0);

    // Drift again (v2 is kept at 0% by this blue-green). Besides `zdd restore` (test/ops/restore.e2e),
    // `zdd rollback --to v3`, v3 having the most weight, puts it back on 100% (it used to say
    // "already serves 100%" and change nothing).
    await admin.call('PUT', '/weights', { weights: { v2: 30, v3: 70 } });
    const refused = await p.run(['deploy', '--revision', 'v4']);
    expect(refused.code, explain(refused)).toBe(2);
    expect(refused.events.at(-1).hint).toContain('`zdd restore` puts the router back to the weights zdd last wrote (v3 100%)');
    const restored = await p.run(['rollback', '--to', 'v3']);
    expect(restored.code, explain(restored)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ v3: 100 });
    expect((await p.run(['status'])).events.find((e) => e.type === 'status').drift).toEqual([]);
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });

  it('a stable instance gone: deploy refuses until stable is whole again', async () => {
    const inst = p.routerState()!.instances.find((i) => i.revision === 'v3')!;
    process.kill(inst.pid, 'SIGKILL');
    // The instance is its whole process group: the router ends what the dead leader left behind.
    await expect.poll(() => isAlive(-inst.pid), { timeout: 10_000 }).toBe(false);
    await expect.poll(async () => (await p.run(['status'])).events.find((e) => e.type === 'status').drift.join('\n'), { timeout: 10_000 }).toContain('Stable v3');
    const r = await p.run(['deploy', '--revision', 'v4']);
    expect(r.code, explain(r)).toBe(2);
    expect(r.events.at(-1).message).toMatch(/Stable v3 \(100% of traffic\) is not healthy: 1 of 2 instances healthy/);
    expect(Object.keys(p.routerState()!.revisions)).not.toContain('v4');
  });
});
