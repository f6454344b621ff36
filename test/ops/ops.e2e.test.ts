import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from '../local/e2e-project.js';
import { runZdd } from '../cli/cli-harness.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

/**
 * Operating zdd on the local provider, through the built binary under light keep-alive load:
 * notifications to real HTTP receivers (one answering 200, one 500, one that never answers),
 * then `zdd history`, `zdd report` and `zdd status` over the deploys that produced them.
 */
describe('operating zdd: notifications, history, report, status', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let recv: WebhookReceiver;
  let load: LoadRun;
  let env: Record<string, string>;
  const ci = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '4242' };

  beforeAll(async () => {
    recv = await startReceiver();
    env = { OPS_HOOK_URL: recv.url('/ok/hook'), OPS_SLACK_URL: recv.url('/ok/slack'), OPS_FAIL_URL: recv.url('/fail/x'), OPS_HANG_URL: recv.url('/hang/x') };
    p = await localProject({
      canarySteps: "[{ weight: 50, pause: '1500ms' }, { weight: 100 }]",
      extra: `hooks: { preShift: 'true', onRollback: 'exit 3' },
  notify: [
    { type: 'webhook', urlEnv: 'OPS_HOOK_URL' },
    { type: 'slack', urlEnv: 'OPS_SLACK_URL' },
    { type: 'webhook', urlEnv: 'OPS_FAIL_URL', on: ['start'] },
    { type: 'webhook', urlEnv: 'OPS_HANG_URL', on: ['rollback'], timeout: '8s' },
  ],
  environments: { manual: { strategies: { canary: { steps: [{ weight: 50, pause: 'manual' }, { weight: 100 }] } } } },`,
    });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
    await recv?.close();
  });

  it('start and success reach the webhook and Slack; a receiver answering 500 only warns (by variable name, never the URL)', async () => {
    const v1 = await p.run(['deploy', '--revision', 'v1'], env);
    expect(v1.code, explain(v1)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 60, maxDurationMs: 200_000, maxRequests: 60_000 });
    const v2 = await p.run(['deploy', '--revision', 'v2'], { ...env, ...ci });
    expect(v2.code, explain(v2)).toBe(0);

    const hook = recv.bodies('/ok/hook').filter((b) => b.revision === 'v2');
    expect(hook.map((b) => b.event)).toEqual(['start', 'success']);
    expect(hook[1]).toMatchObject({ source: 'zdd', service: 'web', strategy: 'canary', revision: 'v2', stable: 'v1', result: 'succeeded', exitCode: 0, ciRunUrl: 'https://github.com/acme/web/actions/runs/4242' });
    expect(hook[1].who).toBeTruthy();
    expect(hook[1].step).toMatchObject({ total: expect.any(Number), description: expect.any(String) });
    const slack = recv.bodies('/ok/slack').map((b) => b.text as string).filter((t) => t.includes('→ v2'));
    expect(slack).toHaveLength(2);
    expect(slack[1]).toMatch(/:white_check_mark: \*web\*: success — canary v1 → v2/);
    expect(slack[1]).toContain('<https://github.com/acme/web/actions/runs/4242|CI run>');

    const warning = v2.events.find((e) => e.type === 'warn' && /OPS_FAIL_URL/.test(e.message));
    expect(warning?.message).toBe('notify[2] (webhook, $OPS_FAIL_URL): the start notification got HTTP 500; the deploy goes on');
    expect(v2.stdout + v2.stderr).not.toContain(recv.url('/fail'));
    expect(v2.events.at(-1).type).toBe('done');
  });

  it('a rollback notification names the reason, the check and its values; a receiver that hangs does not slow the rollback', async () => {
    const bad = await p.run(['deploy', '--revision', 'v3-bad'], env);
    expect(bad.code, explain(bad)).toBe(1);
    const start = bad.events.find((e) => e.type === 'rollback.start');
    const done = bad.events.find((e) => e.type === 'rollback.done');
    const rollbackMs = Date.parse(done.time) - Date.parse(start.time);
    console.log(`rollback took ${rollbackMs}ms with a webhook that never answers (timeout 8s)`);
    expect(rollbackMs).toBeLessThan(6_000);
    // The hanging receiver got its request, at the start of the rollback.
    const hung = recv.received.filter((r) => r.path.startsWith('/hang'));
    expect(hung).toHaveLength(1);
    expect(hung[0].at - Date.parse(start.time)).toBeLessThan(3_000);

    const rb = recv.bodies('/ok/hook').find((b) => b.revision === 'v3-bad' && b.event === 'rollback');
    expect(rb).toMatchObject({ result: 'rolling-back', reason: expect.stringContaining('candidate-errors') });
    expect(rb.check).toMatchObject({ name: 'candidate-errors', gate: 'analysis', verdict: 'fail' });
    expect(Object.keys(rb.check.observed ?? {}).length).toBeGreaterThan(0);
    const after = recv.bodies('/ok/hook').find((b) => b.revision === 'v3-bad' && b.event === 'rolled-back');
    expect(after).toMatchObject({ exitCode: 1, result: 'rolled-back' });
    // The timeout warning comes after `done`: on stderr, so the NDJSON still ends with done.
    // zdd exits when its work is done (after a short grace), not when the 8 s timeout runs out.
    expect(bad.stderr).toContain("notify[3] (webhook, $OPS_HANG_URL): the rollback notification was not delivered (no answer by the time zdd's work was done; zdd exits without waiting out its 8s timeout)");
    expect(bad.events.at(-1).type).toBe('done');
  });

  it('a manual pause notifies with the exact promote and abort commands, which work', async () => {
    // --config as typed (relative): the notification carries it absolute, so the command works from anywhere.
    const run = p.start(['deploy', '--revision', 'v4', '--config', 'deploy.config.ts', '--env', 'manual'], env);
    const cfg = join(p.dir, 'deploy.config.ts');
    await run.waitForEvent((e) => e.type === 'paused', 60_000);
    await expect.poll(() => recv.bodies('/ok/hook').find((b) => b.revision === 'v4' && b.event === 'pause'), { timeout: 10_000 }).toBeTruthy();
    const pause = recv.bodies('/ok/hook').find((b) => b.revision === 'v4' && b.event === 'pause');
    expect(pause.commands).toEqual({ promote: `zdd promote --config ${cfg} --env manual`, abort: `zdd abort --config ${cfg} --env manual` });
    expect(pause.env).toBe('manual');
    const slack = recv.bodies('/ok/slack').map((b) => b.text as string).find((t) => t.includes('pause'));
    expect(slack).toContain(`\`zdd promote --config ${cfg} --env manual\` to continue, \`zdd abort --config ${cfg} --env manual\` to roll back`);
    const promote = await p.run(['promote', '--env', 'manual'], env);
    expect(promote.code, explain(promote)).toBe(0);
    const r = await run.done;
    expect(r.code, explain(r)).toBe(0);
  });

  it('history lists the releases; report tells the bad one step by step; status says what is live since when, by whom, from which CI run', async () => {
    const total = await load.stop();
    expect(total.connectionErrors, JSON.stringify(total.connectionErrorKinds)).toBe(0);
    expect(failedRequests(total, { allow5xxFrom: (rev) => rev.includes('bad') }), JSON.stringify(total.byStatus)).toBe(0);

    const h = await p.run(['history'], env);
    expect(h.code, explain(h)).toBe(0);
    const releases = h.events.find((e) => e.type === 'history').releases;
    expect(releases.map((r: any) => [r.revision, r.strategy, r.result])).toEqual([
      ['v4', 'canary', 'succeeded'],
      ['v3-bad', 'canary', 'rolled-back'],
      ['v2', 'canary', 'succeeded'],
      ['v1', 'canary', 'succeeded'],
    ]);
    for (const r of releases) {
      expect(r.who).toBeTruthy();
      expect(r.durationMs).toBeGreaterThan(0);
      expect(Date.parse(r.startedAt)).toBeGreaterThan(0);
    }
    expect(releases[1].reason).toContain('candidate-errors');
    expect(releases[2].ciRunUrl).toBe('https://github.com/acme/web/actions/runs/4242');
    const table = await runZdd(['history'], p.dir, env);
    expect(table.code, table.stdout).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+REVISION\s+IMAGE\s+STRATEGY\s+RESULT\s+WHO\s+WHEN \(UTC\)\s+TOOK\s+CI RUN$/m);
    expect(table.stdout).toMatch(/v3-bad\s+—\s+canary\s+rolled-back/);

    const badId = releases[1].id;
    const json = await p.run(['report', badId.slice(0, 18)], env);
    expect(json.code, explain(json)).toBe(0);
    const report = json.events.find((e) => e.type === 'report');
    expect(report).toMatchObject({ id: badId, result: 'rolled-back', candidate: 'v3-bad', stable: 'v2', planOnly: false });
    expect(report.rollback).toMatchObject({ reason: expect.stringContaining('candidate-errors'), ok: true });
    const shift = report.steps.find((s: any) => s.phase === 'deploy' && s.weights?.candidate === 50);
    expect(shift.byRevision).toEqual({ v2: 50, 'v3-bad': 50 });
    expect(Date.parse(shift.startedAt)).toBeGreaterThan(0);
    const bake = report.steps.find((s: any) => s.phase === 'deploy' && s.checks.some((c: any) => c.verdict === 'fail'));
    const failed = bake.checks.find((c: any) => c.verdict === 'fail');
    expect(failed).toMatchObject({ check: 'candidate-errors', gate: 'analysis', type: 'router' });
    expect(Object.keys(failed.observed).length).toBeGreaterThan(0);
    expect(report.steps.flatMap((s: any) => s.hooks)).toEqual(
      expect.arrayContaining([expect.objectContaining({ hook: 'preShift', status: 'ok', exitCode: 0 }), expect.objectContaining({ hook: 'onRollback', status: 'failed', exitCode: 3 })]),
    );
    expect(report.steps.some((s: any) => s.phase === 'rollback')).toBe(true);

    // Without --json (the project harness always adds it): Markdown, and a plain history table.
    const md = await runZdd(['report', badId, '--output', 'incident.md'], p.dir, env);
    expect(md.code, md.stdout).toBe(0);
    const { readFileSync } = await import('node:fs');
    const markdown = readFileSync(`${p.dir}/incident.md`, 'utf8');
    expect(markdown).toContain(`## zdd report: web v2 → v3-bad (canary): ROLLED-BACK`);
    expect(markdown).toMatch(/\*\*rollback\*\* at .*candidate-errors/);
    expect(markdown).toMatch(/\| candidate-errors \(router\) \| analysis \| FAIL \|/);
    expect(markdown).toContain('onRollback ✗ (exit 3)');

    const status = await p.run(['status'], env);
    expect(status.code, explain(status)).toBe(0);
    const s = status.events.find((e) => e.type === 'status');
    expect(s.liveRevision).toMatchObject({ revision: 'v4', deploymentId: releases[0].id, since: expect.any(String), who: releases[0].who });
    const human = await runZdd(['status'], p.dir, env);
    expect(human.stdout).toMatch(new RegExp(`live: v4 since \\S+, deployed by .+ with canary \\(deploy ${releases[0].id}\\)`));
  });
});
