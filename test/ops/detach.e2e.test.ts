import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `zdd deploy --detach` on the local provider through the built binary, under load: the command
 * returns once the deploy is underway; the deploy goes on in a background process that logs to a
 * file; status follows it, promote continues it past its manual pause from another process.
 */
describe('zdd deploy --detach', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let load: LoadRun;
  let bgPid = 0;

  beforeAll(async () => {
    p = await localProject({ canarySteps: "[{ weight: 40, pause: 'manual' }, { weight: 100 }]", replicas: 1 });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 150_000, maxRequests: 40_000 });
  });
  afterAll(async () => {
    if (bgPid && alive(bgPid)) process.kill(bgPid, 'SIGKILL');
    await load?.stop();
    await p?.cleanup();
  });

  it('a --log that cannot be written is a usage error (exit 2) naming it, and nothing starts', async () => {
    writeFileSync(join(p.dir, 'not-a-dir'), '');
    const r = await p.run(['deploy', '--revision', 'v9', '--detach', '--log', 'not-a-dir/bg.log']);
    expect(r.code, explain(r)).toBe(2);
    expect(r.events.at(-1).message).toContain(`Cannot write the --detach log ${join(p.dir, 'not-a-dir/bg.log')}`);
    expect(Object.keys(p.routerState()!.revisions)).not.toContain('v9');
  });

  it('returns once underway; the background deploy pauses, status follows it, promote finishes it, the log tells it all', async () => {
    const started = Date.now();
    const d = await p.run(['deploy', '--revision', 'v2', '--detach', '--log', 'bg.log']);
    expect(d.code, explain(d)).toBe(0);
    const done = d.events.at(-1);
    expect(done).toMatchObject({ type: 'done', result: 'detached', exitCode: 0 });
    expect(done.hint).toContain('zdd status --watch');
    bgPid = Number(/pid (\d+)/.exec(done.message)?.[1]);
    expect(alive(bgPid)).toBe(true);
    console.log(`--detach returned after ${Date.now() - started}ms`);
    const log = join(p.dir, 'bg.log');
    expect(existsSync(log)).toBe(true);

    await expect.poll(async () => (await p.run(['status'])).events.find((e) => e.type === 'status')?.deployment?.status, { timeout: 60_000, interval: 500 }).toBe('paused');
    expect(p.routerState()!.weights).toEqual({ v1: 60, v2: 40 });
    expect(alive(bgPid)).toBe(true);

    const promote = await p.run(['promote']);
    expect(promote.code, explain(promote)).toBe(0);
    expect(promote.events.at(-1).message).toMatch(/Asked deploy .* to go on past its pause/);
    await expect.poll(() => alive(bgPid), { timeout: 60_000, interval: 250 }).toBe(false);

    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ type: 'done', result: 'succeeded', exitCode: 0 });
    expect(lines.some((e) => e.type === 'paused')).toBe(true);
    expect(p.routerState()!.weights).toEqual({ v2: 100 });
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });

  it('a background deploy that cannot start reports its own result at once (here: another deploy is paused)', async () => {
    const paused = await p.run(['deploy', '--revision', 'v3', '--until-pause']);
    expect(paused.code, explain(paused)).toBe(6);
    const d = await p.run(['deploy', '--revision', 'v4', '--detach']);
    expect(d.code, explain(d)).toBe(4);
    expect(d.events.at(-1).message).toMatch(/did not finish: paused[\s\S]*background deploy pid \d+ ended; log .*\.zdd\/logs\/deploy-/);
    // The log is in the state folder's logs/ and no wider than the state folder (issue 19 point 8).
    const logPath = /; log (\S+\.log)/.exec(d.events.at(-1).message)![1];
    expect(dirname(logPath)).toBe(join(p.dir, '.zdd', 'logs'));
    expect(statSync(logPath).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(logPath)).mode & 0o777).toBe(0o700);
    const abort = await p.run(['abort']);
    expect(abort.code, explain(abort)).toBe(0);
  });
});
