import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { AdminClient } from '../../src/providers/local/admin-client.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';

/**
 * A blue-green revision kept by one deploy and given traffic by hand is not retired by the next
 * deploy forced past the drift (it has traffic), and that deploy's record keeps another revision.
 * The deploy after it retires the orphan too, once the router gives it nothing (before: it ran forever).
 * Local provider, built binary; the router's admin socket plays "someone changed the weights".
 */
describe('kept revisions left behind by a forced deploy are retired later', { timeout: 90_000 }, () => {
  let p: LocalProject;
  let load: LoadRun;
  const running = () => Object.keys(p.routerState()!.revisions);

  beforeAll(async () => {
    p = await localProject({ replicas: 1 });
    expect((await p.run(['deploy', '--revision', 'w1'])).code).toBe(0);
    // The bakes' analysis needs traffic to conclude.
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 60_000, maxRequests: 15_000 });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('w1 (kept by w2, given 30% by hand) survives the forced w3 deploy, then w4 retires it (and `zdd retire` the next one) with no traffic lost', async () => {
    const w2 = await p.run(['deploy', '--revision', 'w2', '--strategy', 'blue-green']);
    expect(w2.code, explain(w2)).toBe(0);
    const admin = new AdminClient(join(p.dir, '.zdd/local/web/admin.sock'));
    await admin.call('PUT', '/weights', { weights: { w1: 30, w2: 70 } });

    const w3 = await p.run(['deploy', '--revision', 'w3', '--strategy', 'blue-green', '--force']);
    expect(w3.code, explain(w3)).toBe(0);
    expect(w3.events.some((e) => e.type === 'warn' && e.message === 'Not retiring w1: the router still gives it 30%')).toBe(true);
    // w3's record keeps w2; w1 still runs although no current record keeps it.
    expect(running()).toEqual(expect.arrayContaining(['w1', 'w2', 'w3']));
    expect(p.routerState()!.weights.w1 ?? 0).toBe(0);

    const w4 = await p.run(['deploy', '--revision', 'w4', '--strategy', 'blue-green']);
    expect(w4.code, explain(w4)).toBe(0);
    expect(w4.events.some((e) => e.type === 'info' && e.message.startsWith('Retired w1: an earlier deploy kept it'))).toBe(true);
    expect(running()).not.toContain('w1');
    expect(running()).not.toContain('w2');
    expect(running()).toEqual(expect.arrayContaining(['w3', 'w4']));
    const status = (await p.run(['status'])).events.find((e) => e.type === 'status');
    expect(status.drift).toEqual([]);

    // The same through `zdd retire`: w3 (kept by w4) given 30% by hand survives a forced w5; retire --now stops w4 and w3.
    await admin.call('PUT', '/weights', { weights: { w3: 30, w4: 70 } });
    const w5 = await p.run(['deploy', '--revision', 'w5', '--strategy', 'blue-green', '--force']);
    expect(w5.code, explain(w5)).toBe(0);
    expect(running()).toEqual(expect.arrayContaining(['w3', 'w4', 'w5']));
    const retire = await p.run(['retire', '--now']);
    expect(retire.code, explain(retire)).toBe(0);
    expect(retire.events.at(-1).message).toBe('Retired w4. Also retired w3 (kept by an earlier deploy, by none since).');
    expect(running()).toEqual(['w5']);
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });
});
