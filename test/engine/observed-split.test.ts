import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { binomialTwoSidedP } from '../../src/checks/metrics/statistics.js';
import { ExitCode } from '../../src/core/exit-codes.js';
import { describeObservedSplit, judgeSplit, observedSplitSetting, probeSplit } from '../../src/engine/observed-split.js';
import { WeightedPicker } from '../../src/providers/local/router/weighted-picker.js';
import { createHarness, type Harness } from './engine-harness.js';

describe('the exact binomial test', () => {
  it('gives the p-values of scipy.stats.binomtest (R binom.test) to 1%', () => {
    // Reference values from scipy 1.x binomtest(k, n, p).pvalue.
    const cases: [number, number, number, number][] = [
      [0, 100, 0.1, 3.963421631883785e-5],
      [10, 100, 0.1, 1],
      [3, 100, 0.1, 0.017843766383309492],
      [21, 100, 0.1, 0.0011292619275603852],
      [50, 100, 0.5, 1],
      [35, 100, 0.5, 0.0035176417229701587],
      [2, 20, 0.5, 0.0004024505615234375],
    ];
    for (const [k, n, p, want] of cases) expect(binomialTwoSidedP(k, n, p), `${k}/${n} at ${p}`).toBeCloseTo(want, Math.max(2, -Math.floor(Math.log10(want)) + 2));
    expect(binomialTwoSidedP(0, 100, 0)).toBe(1);
    expect(binomialTwoSidedP(3, 100, 0)).toBe(0);
    expect(binomialTwoSidedP(100, 100, 1)).toBe(1);
  });
});

describe('judging an observed split', () => {
  const seen = (byRevision: Record<string, number>, untagged = 0, failed = 0) => ({ sent: Object.values(byRevision).reduce((a, b) => a + b, 0) + untagged + failed, byRevision, untagged, failed });

  it('a split as written (or as chance makes it) passes and is summed up', () => {
    const v = judgeSplit({ v2: 10, v1: 90 }, seen({ v2: 11, v1: 89 }), 'x-zdd-revision');
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.summary).toBe('v1 89 (set 90%), v2 11 (set 10%) of 100 answers');
    expect(judgeSplit({ v2: 10, v1: 90 }, seen({ v2: 4, v1: 96 }), 'h').ok).toBe(true); // p ≈ 0.05: chance
  });

  it('a canary that gets nothing at 10% (a balancer that did not take the weights) fails with the numbers', () => {
    const v = judgeSplit({ v2: 10, v1: 90 }, seen({ v1: 100 }), 'x-zdd-revision');
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([expect.stringMatching(/^v2 answered 0% \(0 of 100\) where zdd set 10% \(that far off by chance: p = 4\.0e-5\)$/)]);
  });

  it('a revision set to 0% that still answers fails, however few answers it gives', () => {
    const v = judgeSplit({ v2: 100, v1: 0 }, seen({ v2: 99, v1: 1 }), 'h');
    expect(v.problems).toEqual(['v1 answered 1 of 100 requests although zdd set it to 0%']);
    const hand = judgeSplit({ v2: 100 }, seen({ v2: 90, 'web-old': 10 }), 'x-zdd-server');
    expect(hand.problems).toEqual(['web-old answered 10 of 100 requests although zdd set it to 0% (zdd did not route to it at all)']);
  });

  it('answers without the header beyond 5% fail (something else answers); a few do not', () => {
    expect(judgeSplit({ v1: 100 }, seen({ v1: 90 }, 10), 'x-zdd-revision').problems).toEqual([
      '10 of 100 answers carried no x-zdd-revision header: something other than the service\'s revisions answers (a second listener, a CDN or a cache in front)',
    ]);
    expect(judgeSplit({ v1: 100 }, seen({ v1: 97 }, 3), 'x-zdd-revision').ok).toBe(true);
  });

  it('too few answers to judge is inconclusive, not a failure', () => {
    const v = judgeSplit({ v2: 50, v1: 50 }, seen({ v1: 10 }, 0, 5), 'h');
    expect(v.ok).toBe(true);
    expect(v.inconclusive).toBe('only 10 of 15 requests were answered (5 failed); at least 20 are needed to judge the split');
  });
});

describe('the setting', () => {
  const router = { setWeights: async () => undefined, getWeights: async () => ({}) };
  it('on where the router tags its answers or the config names a header; off, with the reason, elsewhere', () => {
    expect(observedSplitSetting({}, { ...router, answerTag: { header: 'X-Zdd-Revision' } })).toMatchObject({ on: true, header: 'x-zdd-revision', requests: 100, withinMs: 5000, path: '/', source: 'router' });
    expect(observedSplitSetting({ observedSplit: { header: 'X-App-Revision', requests: 40 } }, router)).toMatchObject({ on: true, header: 'x-app-revision', requests: 40, source: 'config' });
    const off = observedSplitSetting({}, router);
    expect(describeObservedSplit(off)).toMatch(/^observed split: off \(the router does not name the revision in its answers; set observedSplit.header/);
    expect(observedSplitSetting({ observedSplit: { enabled: false } }, { ...router, answerTag: { header: 'x' } })).toEqual({ on: false, why: 'observedSplit.enabled is false' });
  });
});

/** An entry point in front of the fake provider: answers name a revision, chosen by `pick`. */
async function entryPoint(pick: () => string | undefined): Promise<{ url: string; server: Server; requests: () => number }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    const rev = pick();
    res.writeHead(200, rev ? { 'x-app-revision': rev } : {}).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests: () => requests };
}

describe('probing an entry point', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('sends the requests asked for, a few at a time, and counts answers by header (mapped to revisions)', async () => {
    let n = 0;
    const ep = await entryPoint(() => (n++ % 4 === 0 ? 'slot2' : n % 7 === 0 ? undefined : 'slot1'));
    server = ep.server;
    const seen = await probeSplit(`${ep.url}/`, { requests: 60, withinMs: 5_000, header: 'x-app-revision', revisionOf: (v) => ({ slot1: 'v1', slot2: 'v2' })[v] });
    expect(seen.sent).toBe(60);
    expect(ep.requests()).toBe(60);
    expect(seen.failed).toBe(0);
    expect(seen.byRevision.v1 + seen.byRevision.v2 + seen.untagged).toBe(60);
    expect(seen.byRevision.v2).toBe(15);
  });

  it('stops at the time limit and counts a refused connection as unanswered', async () => {
    const slow = createServer(() => undefined); // never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    server = slow;
    const started = Date.now();
    const seen = await probeSplit(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/`, { requests: 100, withinMs: 300, header: 'x' });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(seen.byRevision).toEqual({});
    const refused = await probeSplit('http://127.0.0.1:9/', { requests: 5, withinMs: 2_000, header: 'x', concurrency: 1 });
    expect(refused).toMatchObject({ sent: 5, failed: 5 });
  });
});

describe('a deploy checks each shift from outside', () => {
  let h: Harness | undefined;
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    h?.cleanup();
  });

  const withEntryPoint = async (pick: (weights: Record<string, number>) => string | undefined, config: Record<string, unknown> = { observedSplit: { header: 'x-app-revision', requests: 50 } }) => {
    h = createHarness({ config });
    const harness = h;
    const ep = await entryPoint(() => pick(harness.fakeState().weights));
    server = ep.server;
    const own = h.provider.platform.endpoints.bind(h.provider.platform);
    h.provider.platform.endpoints = async (id) => ({ ...(await own(id)), serviceUrl: ep.url });
    return { h, ep };
  };

  it('an entry point that follows the weights: the canary goes through, each shift announced with what was seen', async () => {
    const picker = new WeightedPicker();
    const { h, ep } = await withEntryPoint((weights) => picker.pick(weights, () => true));
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const seen = h.events.filter((e) => e.type === 'info' && e.message.startsWith('Observed split')).map((e) => (e as { message: string }).message);
    expect(seen).toHaveLength(3); // 20%, 50%, 100%
    expect(seen[0]).toMatch(/^Observed split at http:\/\/127\.0\.0\.1:\d+: v1 40 \(set 80%\), v2 10 \(set 20%\) of 50 answers$/);
    expect(ep.requests()).toBe(150);
  });

  it('an entry point that still sends everything to stable (a stale cache): the first shift fails with the numbers of two probes and the deploy rolls back', async () => {
    const { h, ep } = await withEntryPoint(() => 'v1');
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(outcome.message).toMatch(/The split clients meet at http:\/\/127\.0\.0\.1:\d+ is not what the router reports, in two probes: v2 answered 0% \(0 of 50\) where zdd set 20%/);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    // Two probes of the shift (a failed one is confirmed), then the rollback's own shift (v1 100% is what the cache serves): no warning.
    expect(ep.requests()).toBe(150);
    expect(h.events.some((e) => e.type === 'warn' && e.message.includes('the rollback goes on'))).toBe(false);
  });

  it('a router that tags its answers, behind a proxy configured without the tag (haproxy.cfg lacking the line): one warning, the check is off for the run, the deploy goes on', async () => {
    const { h, ep } = await withEntryPoint(() => undefined, { observedSplit: { requests: 30 } });
    (h.provider.router as { answerTag?: unknown }).answerTag = { header: 'x-zdd-server' };
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const warnings = h.events.filter((e) => e.type === 'warn' && e.message.startsWith('Observed split off')).map((e) => (e as { message: string }).message);
    expect(warnings).toEqual([expect.stringMatching(/^Observed split off for this run: no answer from http:\/\/127\.0\.0\.1:\d+ carried the x-zdd-server header the router names revisions with \(docs\/haproxy\.md/)]);
    expect(ep.requests()).toBe(60); // the first shift only: its probe, and the second that confirms no answer is tagged
  });
});
