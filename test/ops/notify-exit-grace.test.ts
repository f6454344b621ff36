import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, parseNdjson, type Project } from '../cli/cli-harness.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };

/**
 * A webhook receiver that never answers (a real HTTP server on 127.0.0.1 that reads the request
 * and holds it) must not hold a command's exit for its notify timeout: `zdd rollback` during an
 * incident exits when its work is done, after a short grace, and says the notification was not
 * delivered. The bounds are generous against the 10 s timeout; before the grace the exit came a
 * full timeout after `done`.
 */
describe('notify: a command exits when its work is done, whatever the webhooks do', () => {
  let recv: WebhookReceiver;
  let p: Project;
  let env: Record<string, string>;
  beforeAll(async () => {
    recv = await startReceiver();
    env = { HANG_URL: recv.url('/hang/incident') };
    p = makeProject({ fake: { failFile: undefined }, extra: `notify: [{ type: 'webhook', urlEnv: 'HANG_URL', timeout: '10s' }],` });
  });
  afterAll(async () => {
    p?.cleanup();
    await recv?.close();
  });

  it('zdd rollback with a hanging receiver exits well within the notify timeout and reports the notification as not delivered', async () => {
    const deploy = await p.run(['deploy', '--revision', 'v2', '--strategy', 'blue-green'], { env, ...FAST });
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);

    const startedAt = Date.now();
    const run = p.start(['rollback', '--json'], { env, ...FAST });
    await run.waitFor(/"type":"done"/);
    const doneAt = Date.now();
    const r = await run.done;
    const exitedAt = Date.now();
    console.log(`zdd rollback: done ${doneAt - startedAt} ms after start, exit ${exitedAt - doneAt} ms after done (notify timeout 10 s, receiver never answers)`);

    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    expect(recv.received.filter((x) => x.path === '/hang/incident').length).toBeGreaterThan(0);
    // The work's own time depends on the machine's load; the wait after it is zdd's choice.
    expect(exitedAt - doneAt).toBeLessThan(2_000);
    // The NDJSON still ends with `done`; the warning after it goes to stderr, naming the variable, never the URL.
    expect(parseNdjson(r.stdout).at(-1)?.type).toBe('done');
    expect(r.stderr).toMatch(/notify\[0\] \(webhook, \$HANG_URL\): the (start|success) notification was not delivered \(no answer by the time zdd's work was done; zdd exits without waiting out its 10s timeout\)/);
    expect(r.stderr).not.toContain(recv.url('/hang'));
  });
});
