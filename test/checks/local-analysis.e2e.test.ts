import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/moto.js';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { ROOT, parseNdjson, runZdd, type RunResult } from '../cli/cli-harness.js';

/**
 * Issue 5 end to end: the built binary, the local provider (real processes behind the real local
 * router) and the router metric check under real HTTP load.
 *   - a `bad` revision (30% 5xx) is rolled back within one check interval of its first failing window,
 *     and no request fails other than the bad app's own 5xx;
 *   - a revision with noisy but acceptable errors (2%) is not rolled back;
 *   - a bake with too little traffic is inconclusive, never a pass: with onInconclusive 'rollback' it rolls back
 *     (the default, 'pause', is tested in quiet-service.e2e.test.ts).
 * The detection-to-rollback time is measured from the events and printed.
 */

/** Check interval of the bad deploy: detection and rollback must both fit within about two. */
const INTERVAL_MS = 2000;

interface Event {
  type: string;
  time: string;
  [k: string]: unknown;
}

describe('metric analysis on the local provider (built binary)', () => {
  let dir: string;
  let port: number;
  let load: LoadRun | undefined;

  function writeConfig(file: string, opts: { badShare: string; bake: string; minRequests: number; intervalMs?: number; windowMs?: number; onInconclusive?: string }) {
    writeFileSync(
      join(dir, file),
      `import { defineConfig } from 'zdd';

export default defineConfig({
  service: 'metrics-e2e',
  provider: {
    type: 'local',
    command: 'node app.mjs',
    port: ${port},
    health: { path: '/health', interval: '100ms' },
    env: { BAD_SHARE: ${JSON.stringify(opts.badShare)} },
    stopGrace: '3s',
  },
  replicas: 1,
  health: { timeout: '20s' },
  drain: '500ms',
  strategies: { canary: { steps: [{ weight: 20, pause: ${JSON.stringify(opts.bake)} }, { weight: 100 }] } },
  gates: {
    analysis: {${opts.onInconclusive ? ` onInconclusive: '${opts.onInconclusive}',` : ''}
      checks: [
        { type: 'router', name: 'candidate-errors', interval: '${opts.intervalMs ?? INTERVAL_MS}ms', window: '${opts.windowMs ?? opts.intervalMs ?? INTERVAL_MS}ms', minRequests: ${opts.minRequests}, maxErrorRate: 5, maxErrorRateIncrease: 4 },
      ],
    },
  },
});
`,
    );
  }

  const zdd = (args: string[], timeoutMs = 90_000): Promise<RunResult> => runZdd(args, dir, {}, timeoutMs);
  const events = (r: RunResult): Event[] => parseNdjson(r.stdout) as Event[];
  const at = (e: Event | undefined) => (e ? Date.parse(e.time) : NaN);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-metrics-e2e-'));
    copyFileSync(join(ROOT, 'examples/local/app.mjs'), join(dir, 'app.mjs'));
    port = await freePort();
    writeConfig('bad.config.ts', { badShare: '0.3', bake: '30s', minRequests: 10 });
    // One error in every 50 requests: judged over 3s windows of at least 40 requests so that a
    // single error in a thin window cannot look like 5%; thinner windows are inconclusive, which a bake tolerates.
    writeConfig('noisy.config.ts', { badShare: '0.02', bake: '6s', minRequests: 40, intervalMs: 1000, windowMs: 3000 });
    writeConfig('quiet.config.ts', { badShare: '0', bake: '3s', minRequests: 10, intervalMs: 1000, onInconclusive: 'rollback' });
    const first = await zdd(['deploy', '--config', 'bad.config.ts', '--revision', 'v1', '--json']);
    expect(first.code, first.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await load?.stop();
    if (dir) {
      await zdd(['down', '--config', 'bad.config.ts', '--yes'], 60_000).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('rolls a bad revision back within one check interval of its first failing window, with no failed requests but its own', async () => {
    load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, ratePerClient: 100, maxDurationMs: 80_000, maxRequests: 40_000 });
    // Traffic flows to stable before the deploy starts.
    await new Promise((r) => setTimeout(r, 500));
    const window = load.window();
    const r = await zdd(['deploy', '--config', 'bad.config.ts', '--revision', 'bad-v2', '--json']);
    await new Promise((res) => setTimeout(res, 300));
    const seen = window.close();
    const ev = events(r);

    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const shift = ev.find((e) => e.type === 'traffic' && (e.weights as { candidate: number }).candidate === 20);
    // The bake (and its check interval) starts once the shift step is done, after the observed split's probe.
    const bake = ev.find((e, i) => e.type === 'step.start' && i > ev.indexOf(shift!) && (e.step as { kind: string }).kind === 'pause');
    const checks = ev.filter((e) => e.type === 'check');
    const failed = checks.find((e) => (e.result as { verdict: string }).verdict === 'fail');
    const rollbackStart = ev.find((e) => e.type === 'rollback.start');
    const restored = ev.find((e, i) => e.type === 'traffic' && i > ev.indexOf(rollbackStart!) && (e.weights as { candidate: number }).candidate === 0);
    const rollbackDone = ev.find((e) => e.type === 'rollback.done');
    const done = ev.find((e) => e.type === 'done');
    expect(shift && bake && failed && rollbackStart && restored && rollbackDone && done, r.stdout).toBeTruthy();

    // The first window of the bake already fails: detected by the first measurement, one interval in.
    expect(checks.indexOf(failed!)).toBe(0);
    const detectMs = at(failed) - at(bake);
    expect(detectMs).toBeGreaterThanOrEqual(INTERVAL_MS);
    expect(String(rollbackStart!.reason)).toMatch(/check "candidate-errors" failed: candidate 5xx rate \d+\.\d% > 5%/);
    expect(String(done!.message)).toMatch(/candidate-errors/);
    const detectionToRollbackMs = at(restored) - at(failed);
    const detectionToRollbackDoneMs = at(rollbackDone) - at(failed);
    console.log(
      `[metrics e2e] shift→bake ${at(bake) - at(shift)}ms; bake→failing check ${detectMs}ms; failing check→traffic back on stable ${detectionToRollbackMs}ms; ` +
        `failing check→rollback done ${detectionToRollbackDoneMs}ms; requests during deploy ${seen.requests}, ` +
        `bad-v2 answered ${seen.byRevision['bad-v2'] ?? 0} (${seen.errorsByRevision['bad-v2'] ?? 0} 5xx)`,
    );
    // The first window closes one interval into the bake; production is back on stable within one more.
    expect(at(restored) - at(bake)).toBeLessThan(2 * INTERVAL_MS);

    // Zero failed requests other than the bad app's own 5xx.
    expect(seen.connectionErrors, JSON.stringify(seen.connectionErrorKinds)).toBe(0);
    expect(failedRequests(seen, { allow5xxFrom: (rev) => rev === 'bad-v2' })).toBe(0);
    expect(seen.byRevision['bad-v2'] ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('keeps a revision whose errors are noisy but acceptable', async () => {
    const window = load!.window();
    const r = await zdd(['deploy', '--config', 'noisy.config.ts', '--revision', 'bad-noisy-v3', '--json']);
    const seen = window.close();
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const checks = events(r).filter((e) => e.type === 'check').map((e) => e.result as { verdict: string; observed: Record<string, number> });
    expect(checks.filter((c) => c.verdict === 'fail')).toEqual([]);
    expect(checks.filter((c) => c.verdict === 'pass').length).toBeGreaterThanOrEqual(2);
    // The candidate really erred: the pass is not for lack of errors.
    expect(checks.reduce((n, c) => n + (c.observed.candidateErrors ?? 0), 0)).toBeGreaterThan(0);
    expect(seen.connectionErrors).toBe(0);
    expect(failedRequests(seen, { allow5xxFrom: (rev) => rev === 'bad-noisy-v3' })).toBe(0);
  }, 120_000);

  it('with onInconclusive "rollback", rolls back a bake with too little traffic, saying it was inconclusive and which choice applied', async () => {
    await load!.stop();
    const r = await zdd(['deploy', '--config', 'quiet.config.ts', '--revision', 'v4', '--json']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const ev = events(r);
    const checks = ev.filter((e) => e.type === 'check').map((e) => e.result as { verdict: string; message: string });
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks.every((c) => c.verdict === 'inconclusive')).toBe(true);
    const reason = String(ev.find((e) => e.type === 'rollback.start')?.reason);
    expect(reason).toMatch(/^Analysis "analysis" was inconclusive: check "candidate-errors" was inconclusive: too little traffic \(\d requests, need 10\) on candidate v4 \(production traffic only; \d+ test-route requests ignored\) \(no conclusive result in the whole bake\)\. onInconclusive: rollback, so the deploy rolls back/);
    const status = await zdd(['status', '--config', 'quiet.config.ts', '--json']);
    expect(status.stdout).toContain('bad-noisy-v3');
  }, 120_000);
});
