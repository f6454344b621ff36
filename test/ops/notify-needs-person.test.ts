import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, type Project } from '../cli/cli-harness.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };

/**
 * The "needs a person" notification (exit 4) through the built binary, to a real HTTP receiver
 * (fake provider: the failure is zdd's own --no-rollback path, not a platform's), plus the
 * commands that never notify.
 */
describe('notify: failure that needs a person', () => {
  let recv: WebhookReceiver;
  let p: Project;
  let env: Record<string, string>;
  beforeAll(async () => {
    recv = await startReceiver();
    env = { HOOK_URL: recv.url('/ok/hook'), SLACK_URL: recv.url('/ok/slack') };
    p = makeProject({ fake: { failFile: undefined }, extra: `notify: [{ type: 'webhook', urlEnv: 'HOOK_URL', on: ['needs-person', 'success'] }, { type: 'slack', urlEnv: 'SLACK_URL', on: ['needs-person'] }, { type: 'webhook', urlEnv: 'UNSET_URL' }],` });
  });
  afterAll(async () => {
    p?.cleanup();
    await recv?.close();
  });

  it('--no-rollback stopping on a failed check (exit 4) sends needs-person; only the moments asked for are sent', async () => {
    writeFileSync(p.failFile, '');
    const r = await p.run(['deploy', '--revision', 'v2', '--no-rollback', '--json'], { env, ...FAST });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const hook = recv.bodies('/ok/hook');
    expect(hook.map((b) => b.event)).toEqual(['needs-person']);
    expect(hook[0]).toMatchObject({ service: 'web', revision: 'v2', stable: 'v1', result: 'failed', exitCode: 4, message: expect.stringContaining('Rollback was disabled') });
    expect(hook[0].reason).toContain('zdd rollback');
    const slack = recv.bodies('/ok/slack');
    expect(slack).toHaveLength(1);
    expect(slack[0].text).toMatch(/^:sos: \*web\*: needs-person — canary v1 → v2/);
    // A target whose variable is not set is named once, by its variable.
    const warns = r.stdout.split('\n').filter((l) => l.includes('UNSET_URL'));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain('notify[2] (webhook, $UNSET_URL): environment variable UNSET_URL is not set');
  });

  it('status, history and lock status send nothing', async () => {
    const before = recv.received.length;
    for (const cmd of [['status'], ['history'], ['lock', 'status']]) expect((await p.run(cmd, { env, ...FAST })).code).toBe(0);
    expect(recv.received.length).toBe(before);
  });
});
