import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad } from '../helpers/load-generator.js';
import { isAlive } from '../../src/providers/local/processes.js';
import { runZdd } from '../cli/cli-harness.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';

/**
 * Issue 19 point 7, through the built binary on the local provider: `zdd report` of a deploy
 * promoted past its manual pause by another process, and of a deploy whose process was killed
 * (the router's dead-man's switch put stable back, then `zdd rollback`); `zdd status --watch`
 * started after a detached deploy had already rolled back. One project and router for the file.
 */
describe('reports and watch', { timeout: 120_000 }, () => {
  let p: LocalProject;
  const bgPids: number[] = [];

  beforeAll(async () => {
    // A postShift hook that fails while FAIL exists: the way to make a detached deploy roll back on cue.
    p = await localProject({ canarySteps: "[{ weight: 30, pause: 'manual' }, { weight: 100 }]", replicas: 1, extra: "hooks: { postShift: 'test ! -f FAIL' }," });
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    for (const pid of bgPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await p?.cleanup();
  });

  /** `zdd report` as an operator reads it (Markdown: no --json). */
  async function markdownReport(): Promise<string> {
    const r = await runZdd(['report'], p.dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return r.stdout;
  }

  it('a deploy stopped at its manual pause (--until-pause) and promoted by another process: the pause is ✓, promoted by whom and when', async () => {
    const paused = await p.run(['deploy', '--revision', 'v2', '--until-pause']);
    expect(paused.code, explain(paused)).toBe(6);
    const promote = await p.run(['promote']);
    expect(promote.code, explain(promote)).toBe(0);
    expect(p.routerState()!.weights).toEqual({ v2: 100 });

    const json = (await p.run(['report'])).events.find((e) => e.type === 'report');
    expect(json.result).toBe('succeeded');
    const pause = json.steps.find((s: any) => s.phase === 'deploy' && /promote/.test(s.description));
    expect(pause, JSON.stringify(json.steps)).toMatchObject({ done: true, promoted: { by: expect.stringMatching(/.+@.+/), at: expect.any(String) } });
    expect(json.steps.filter((s: any) => !s.done), 'no step of a succeeded deploy is left open').toEqual([]);

    const md = await markdownReport();
    const row = md.split('\n').find((l) => l.includes(pause.description))!;
    expect(row).toContain(`✓ promoted by ${pause.promoted.by} at ${pause.promoted.at}`);
    expect(md).not.toContain('✗');
  });

  it("a deploy killed -9 during its bake: the report says its process died (last heard), that the router's dead-man's switch put stable back, then the manual rollback", async () => {
    // The switch guards a deploy that runs (a bake), not one waiting at a manual pause: bake 60s instead.
    const config = join(p.dir, 'deploy.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace("pause: 'manual'", "pause: '60s'"));
    const load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 50, maxDurationMs: 30_000, maxRequests: 10_000 });
    const deploy = p.start(['deploy', '--revision', 'v3']);
    await deploy.waitForEvent((e) => e.type === 'bake.progress');
    deploy.child.kill('SIGKILL');
    await deploy.done;
    await expect.poll(() => p.routerState()!.deadMansSwitchFired?.restored, { timeout: 10_000, interval: 50 }).toBe('v2');
    expect(p.routerState()!.weights).toMatchObject({ v2: 100 });
    const rollback = await p.run(['rollback']);
    expect(rollback.code, explain(rollback)).toBe(0);
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);

    const md = await markdownReport();
    const pid = deploy.child.pid!;
    expect(md).toMatch(new RegExp(`\\*\\*the deploy's process died\\*\\* \\(last heard at \\d{4}-[^)]+Z\\): .*pid ${pid}`));
    expect(md).toMatch(/\*\*dead-man's switch\*\* at \S+Z: the local router put 100% back on v2 \(was v2 70% \/ v3 30%\)/);
    const rollbackLine = md.split('\n').find((l) => l.startsWith('- **rollback**'))!;
    expect(rollbackLine).toMatch(new RegExp(`the deploy's process \\(pid ${pid} on [^)]*\\) died during step \\d+/\\d+.*last heard at \\S+Z`));
    expect(rollbackLine).toMatch(/the local router's dead-man's switch put 100% back on v2 at \S+Z; then a manual rollback of an unfinished deploy/);
    expect(rollbackLine).toContain('rollback done: production on stable v2');
  });

  it('status --watch started after a detached deploy had already rolled back exits with its result (1), as when it sees it happen', async () => {
    writeFileSync(join(p.dir, 'FAIL'), '');
    try {
      const d = await p.run(['deploy', '--revision', 'v4', '--detach']);
      expect(d.code, explain(d)).toBe(0);
      const pid = Number(/pid (\d+)/.exec(d.events.at(-1).message)?.[1]);
      bgPids.push(pid);
      await expect.poll(() => isAlive(pid), { timeout: 30_000, interval: 100 }).toBe(false);
    } finally {
      rmSync(join(p.dir, 'FAIL'), { force: true });
    }
    const watch = await p.run(['status', '--watch']);
    expect(watch.code, explain(watch)).toBe(1);
    expect(watch.events.at(-1)).toMatchObject({ type: 'done', result: 'rolled-back', exitCode: 1 });
    expect(watch.events.at(-1).message).toMatch(/of v4 ended: rolled-back.*Production is on stable v2/);
  });
});
