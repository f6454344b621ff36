import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import { WeightedPicker } from '../../src/providers/local/router/weighted-picker.js';
import { createHarness, type Harness } from './engine-harness.js';

const REQUESTS = 50;

/**
 * A failed observed split is confirmed before it fails the step (src/engine/steps/shift-traffic.ts):
 * the router's weights are read back (written again when it lost them) and a second probe decides.
 * The production URL is a real HTTP server in front of the fake provider; `answer(n)` names the
 * revision of the n-th request it gets (1-based), given the weights the fake router holds then.
 */
describe('a failed observed split is confirmed by a second probe', () => {
  let h: Harness | undefined;
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    h?.cleanup();
  });

  let picker: WeightedPicker;
  beforeEach(() => {
    picker = new WeightedPicker();
  });
  const byWeights = (weights: Record<string, number>) => picker.pick(weights, () => true);

  /** `answer` gives the revision the n-th request's answer names (undefined: no header; null: no answer, the connection dropped). */
  async function deployBehind(answer: (n: number, weights: Record<string, number>, harness: Harness) => string | undefined | null, fake: Parameters<typeof createHarness>[0] = {}, setup?: (harness: Harness) => void) {
    const harness = createHarness({ config: { observedSplit: { header: 'x-app-revision', requests: REQUESTS } }, ...fake });
    h = harness;
    setup?.(harness);
    let n = 0;
    server = createServer((req, res) => {
      n++;
      const revision = answer(n, harness.fakeState().weights, harness);
      if (revision === null) return req.socket.destroy(); // no answer at all
      res.writeHead(200, revision ? { 'x-app-revision': revision } : {}).end('ok');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const own = harness.provider.platform.endpoints.bind(harness.provider.platform);
    harness.provider.platform.endpoints = async (id) => ({ ...(await own(id)), serviceUrl: url });
    const outcome = await harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    const warnings = harness.events.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
    const writes = harness.fakeState().calls.filter((c) => c.method === 'setWeights').map((c) => c.args[0]);
    return { outcome, warnings, writes, requests: () => n, url };
  }

  it('wrong for the first probe only (weights intact): the step goes on with a warning that names both probes; no write', async () => {
    const { outcome, warnings, writes, requests } = await deployBehind((n, weights) => (n <= REQUESTS ? 'v1' : byWeights(weights)));
    expect(outcome.exitCode, outcome.message).toBe(ExitCode.Ok);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^Observed split at http:\/\/127\.0\.0\.1:\d+: the first probe saw v1 50 \(set 80%\), v2 0 \(set 20%\) of 50 answers; the router's weights read back as zdd wrote them \(v1 80% \| v2 20%\); a second probe agreed: v1 40 \(set 80%\), v2 10 \(set 20%\) of 50 answers$/,
      ),
    ]);
    expect(writes).toEqual([{ v1: 80, v2: 20 }, { v1: 50, v2: 50 }, { v1: 0, v2: 100 }]);
    expect(requests()).toBe(4 * REQUESTS); // 20% (twice), 50%, 100%
  });

  it('wrong for both probes: the step fails and the deploy rolls back, the message carrying both summaries', async () => {
    const { outcome, requests } = await deployBehind((n, weights) => (n <= 2 * REQUESTS ? 'v1' : byWeights(weights)));
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(
      /The split clients meet at http:\/\/127\.0\.0\.1:\d+ is not what the router reports, in two probes: v2 answered 0% \(0 of 50\) where zdd set 20% \(that far off by chance: p = [\d.e-]+\)\. First probe: v1 50 \(set 80%\), v2 0 \(set 20%\) of 50 answers; the router's weights read back as zdd wrote them \(v1 80% \| v2 20%\); second probe: v1 50 \(set 80%\), v2 0 \(set 20%\) of 50 answers/,
    );
    expect(outcome.hint).toMatch(/^Look for what else answers at the entry point/);
    expect(h!.fakeState().weights).toEqual({ v1: 100 });
    expect(requests()).toBe(3 * REQUESTS); // two probes of the 20% shift, one of the rollback's
  });

  it('a router that lost the weights during the probe (a reload): read back, written again, the second probe agrees; the router\'s own witness is named', async () => {
    let watched = 0;
    let witnessed = 0;
    const { outcome, warnings, writes } = await deployBehind(
      (n, _weights, harness) => {
        if (n === 1) {
          // What a reload without a state file does: the router forgets zdd's weights.
          const state = harness.fakeState();
          writeFileSync(harness.stateFile, JSON.stringify({ ...state, weights: { v1: 100 } }));
        }
        return byWeights(harness.fakeState().weights);
      },
      {},
      (harness) => {
        harness.provider.router.witnessProbe = async () => {
          watched++;
          return async () => `the test router restarted (${++witnessed})`;
        };
      },
    );
    expect(outcome.exitCode, outcome.message).toBe(ExitCode.Ok);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^Observed split at http:\/\/127\.0\.0\.1:\d+: the first probe saw v1 50 \(set 80%\), v2 0 \(set 20%\) of 50 answers; the test router restarted \(1\); the router had lost zdd's weights \(it held v1 100%\); zdd wrote v1 80% \| v2 20% again; a second probe agreed: v1 40 \(set 80%\), v2 10 \(set 20%\) of 50 answers$/,
      ),
    ]);
    // The witness watches every probe (20% twice, 50%, 100%) and is asked only after the one that failed.
    expect(watched).toBe(4);
    expect(witnessed).toBe(1);
    expect(writes).toEqual([{ v1: 80, v2: 20 }, { v1: 80, v2: 20 }, { v1: 50, v2: 50 }, { v1: 0, v2: 100 }]);
  });

  it('a router that lost the weights and does not take them again: the step fails on the read-back (promise 2), without a second probe', async () => {
    const { outcome, requests } = await deployBehind((n, _weights, harness) => {
      // From the first probe on, the router holds v1 100% whatever zdd writes.
      if (n === 1) harness.provider.router.getWeights = async () => ({ v1: 100 });
      return 'v1';
    });
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/: Router reports v1 100% after zdd set v1 80%, v2 20%\n/);
    expect(requests()).toBe(2 * REQUESTS); // the failed probe, then the rollback's
  });

  it('a router that tags its answers, whose first probe met none tagged (its own error pages during a reload): the second probe decides, and the check stays on', async () => {
    const { outcome, warnings, requests } = await deployBehind((n, weights) => (n <= REQUESTS ? undefined : byWeights(weights)), { config: { observedSplit: { requests: REQUESTS } } }, (harness) => {
      (harness.provider.router as { answerTag?: unknown }).answerTag = { header: 'x-app-revision' };
    });
    expect(outcome.exitCode, outcome.message).toBe(ExitCode.Ok);
    expect(warnings).toEqual([expect.stringMatching(/the first probe saw v1 0 \(set 80%\), v2 0 \(set 20%\) of 50 answers, 50 without x-app-revision; the router's weights read back as zdd wrote them \(v1 80% \| v2 20%\); a second probe agreed: v1 40 \(set 80%\), v2 10 \(set 20%\) of 50 answers$/)]);
    expect(requests()).toBe(4 * REQUESTS); // the check stayed on for the 50% and 100% shifts
  });

  it('a first probe with no tag, a second with too few answers to judge: not judged, as a single probe would be; the deploy goes on', async () => {
    const { outcome, warnings } = await deployBehind(
      (n, weights) => (n <= REQUESTS ? undefined : n <= 2 * REQUESTS ? (n <= REQUESTS + 10 ? byWeights(weights) : null) : byWeights(weights)),
      { config: { observedSplit: { requests: REQUESTS } } },
      (harness) => {
        (harness.provider.router as { answerTag?: unknown }).answerTag = { header: 'x-app-revision' };
      },
    );
    expect(outcome.exitCode, outcome.message).toBe(ExitCode.Ok);
    expect(warnings).toEqual([expect.stringMatching(/^Observed split not judged: only 10 of 50 requests were answered \(40 failed\); at least 20 are needed/)]);
  });

  it('in a rollback a failed probe only warns, once, with no second probe: the way back never waits on it', async () => {
    // The 50% shift fails (a provider error); the rollback's shift to v1 100% meets an entry point that answers v2.
    const { outcome, warnings, requests } = await deployBehind((n, weights) => (n <= REQUESTS ? byWeights(weights) : 'v2'), {
      fake: { failures: [{ method: 'setWeights', nth: 2, message: 'fake setWeights failed' }] },
    });
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(warnings.filter((w) => w.includes('split clients meet'))).toEqual([
      expect.stringMatching(/is not what the router reports: v2 answered 50 of 50 requests although zdd set it to 0% \(v1 0 \(set 100%\), v2 50 \(set 0%\) of 50 answers\); the rollback goes on$/),
    ]);
    expect(requests()).toBe(2 * REQUESTS);
  });
});
