import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNdjson, runZdd, startZdd } from '../cli/cli-harness.js';
import { freePort } from '../helpers/moto.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };

/**
 * Issue 12 item 3 on the local provider, as a first-time user meets it: `zdd init`, a small app,
 * a first deploy, then a second revision while nobody uses the app. The analysis has no traffic
 * to judge: the deploy must pause for a person (onInconclusive's default), never roll back a
 * healthy revision. The built binary, real processes and the real local router; bakes on the fast
 * test clock.
 */
describe('a quiet service deployed with the `zdd init` defaults (local provider, built binary)', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-quiet-'));
    // The user's app: the template runs `node server.js`.
    writeFileSync(
      join(dir, 'server.js'),
      `require('node:http').createServer((req, res) => res.end(process.env.ZDD_REVISION + '\\n')).listen(Number(process.env.PORT), '127.0.0.1');\n`,
    );
    env = { PORT: String(await freePort()) };
    const init = await runZdd(['init'], dir, env, 60_000, FAST);
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(async () => {
    await runZdd(['down', '--yes'], dir, env, 60_000, FAST).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  it('pauses at each bake with no traffic, saying what was inconclusive and that it waits; zdd promote finishes the deploy', async () => {
    const first = await runZdd(['deploy', '--revision', 'v1'], dir, env, 90_000, FAST);
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);

    const second = startZdd(['deploy', '--revision', 'v2', '--json'], dir, env, FAST);
    for (const weight of [10, 50]) {
      const seen = parseNdjson(second.stdout()).filter((e) => e.type === 'paused').length;
      await second.waitFor(new RegExp(`("type":"paused".*){${seen + 1}}`, 's'), 60_000);
      const paused = parseNdjson(second.stdout()).filter((e) => e.type === 'paused').at(-1) as { message: string };
      expect(paused.message).toMatch(
        /^Analysis "analysis" was inconclusive: check "error-rate" was inconclusive: too little traffic \(\d requests, need 20\) on candidate v2 \(production traffic only; \d+ test-route requests? ignored\) \(no conclusive result in the whole bake\)\. onInconclusive: pause, so the deploy waits: run `zdd promote` to go on or `zdd abort` to roll back/,
      );
      const status = await runZdd(['status', '--json'], dir, env, 60_000, FAST);
      const report = parseNdjson(status.stdout).find((e) => e.type === 'status') as { deployment: { status: string; weights: { candidate: number } } };
      expect(report.deployment.status).toBe('paused');
      expect(report.deployment.weights.candidate).toBe(weight);
      const promote = await runZdd(['promote'], dir, env, 60_000, FAST);
      expect(promote.code, promote.stderr).toBe(0);
    }
    const done = await second.done;
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    const events = parseNdjson(done.stdout);
    expect(events.some((e) => e.type === 'rollback.start')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'done', exitCode: 0 });
    const res = await fetch(`http://127.0.0.1:${env.PORT}/`);
    expect(await res.text()).toBe('v2\n');
  }, 180_000);

  it('with onInconclusive "pass", goes on with a warning that says so', async () => {
    const file = join(dir, 'deploy.config.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace("onInconclusive: 'pause'", "onInconclusive: 'pass'"));
    const r = await runZdd(['deploy', '--revision', 'v3', '--json'], dir, env, 120_000, FAST);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const warnings = parseNdjson(r.stdout).filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
    expect(warnings).toContainEqual(expect.stringMatching(/^Analysis "analysis" was inconclusive: .*onInconclusive: pass, so the deploy goes on/));
    expect(parseNdjson(r.stdout).some((e) => e.type === 'paused' || e.type === 'rollback.start')).toBe(false);
  }, 180_000);
});
