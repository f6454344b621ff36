import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';

/**
 * `zdd restore` on the local provider, through the built binary: weights changed by hand (a request
 * on the router's admin socket) are refused as drift with a hint that says what each way out does;
 * `zdd restore --dry-run` says what would change and changes nothing; `zdd restore` puts back what
 * the blue-green deploy wrote (read back from the router, under load), so the next deploy passes.
 */
describe('zdd restore: production back to what zdd last wrote', { timeout: 60_000 }, () => {
  let p: LocalProject;
  let load: LoadRun;
  const run = (args: string[]) => p.run(args);

  beforeAll(async () => {
    p = await localProject({ replicas: 1 });
    expect((await run(['deploy', '--revision', 'w1'])).code).toBe(0);
    // The bakes' analysis needs traffic to conclude; the same load runs through the restore.
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 40_000, maxRequests: 10_000 });
    const w2 = await run(['deploy', '--revision', 'w2', '--strategy', 'blue-green']);
    expect(w2.code, explain(w2)).toBe(0);
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('refused with the choices spelled out; --dry-run changes nothing; restore writes back w2 100% and the next deploy passes preflight', async () => {
    const admin = new AdminClient(join(p.dir, '.zdd/local/web/admin.sock'));
    await admin.call('PUT', '/weights', { weights: { w1: 30, w2: 70 } });

    const refused = await run(['deploy', '--revision', 'w3']);
    expect(refused.code, explain(refused)).toBe(2);
    const hint = refused.events.at(-1).hint as string;
    expect(hint).toContain('`zdd restore` puts the router back to the weights zdd last wrote');
    expect(hint).toContain('`zdd rollback` releases the previous revision');
    expect(hint).toContain('`zdd deploy --force` deploys from production as it is now');

    const dry = await run(['restore', '--dry-run']);
    expect(dry.code, explain(dry)).toBe(0);
    expect(dry.events.at(-1).message).toContain('w2 100%: w1 30% → 0%, w2 70% → 100%');
    expect(p.routerState()!.weights).toEqual({ w1: 30, w2: 70 });

    const restored = await run(['restore']);
    expect(restored.code, explain(restored)).toBe(0);
    expect(restored.events.at(-1).message).toContain('Restored what deploy');
    expect(p.routerState()!.weights.w2).toBe(100);
    expect(p.routerState()!.weights.w1 ?? 0).toBe(0);

    const status = (await run(['status'])).events.find((e) => e.type === 'status');
    expect(status.drift).toEqual([]);
    expect(status.deployment.restoredWritten).toEqual([expect.objectContaining({ from: { w1: 30, w2: 70 } })]);
    // Same revisions: w1 is still kept (restore is not a rollback).
    expect(Object.keys(p.routerState()!.revisions)).toEqual(expect.arrayContaining(['w1', 'w2']));

    expect((await run(['restore'])).events.at(-1)).toMatchObject({ result: 'nothing-to-do' });
    const next = await run(['deploy', '--revision', 'w3', '--strategy', 'blue-green']);
    expect(next.code, explain(next)).toBe(0);
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });

  it('refuses, changing nothing, after `zdd down`: zdd left no traffic to put back', async () => {
    expect((await run(['down'])).code).toBe(0);
    const r = await run(['restore']);
    expect(r.code, explain(r)).toBe(2);
    expect(r.events.at(-1).message).toContain('`zdd down` stopped everything after deploy');
  });
});
