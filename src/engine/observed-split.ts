import type { AnswerTag, TrafficRouter, WeightMap } from '../core/provider.js';
import { binomialTwoSidedP } from '../checks/metrics/statistics.js';
import type { ZddConfig } from '../config/schema.js';
import { formatDuration } from '../core/plan.js';
import { deadlineSignal } from '../core/deadline.js';

/** Defaults of the `observedSplit` section. */
export const OBSERVED_SPLIT_DEFAULTS = { requests: 100, withinMs: 5_000, path: '/', concurrency: 4 } as const;
/** A share this unlikely under the written weights (exact binomial test) is not chance. */
const ALPHA = 1e-4;
/** …and it must also be this far off (percentage points) to fail a step: a tiny but certain difference is no stale cache. */
const MIN_DEVIATION_PP = 5;

/** Whether and how the traffic shifts of a run are checked from outside, as `zdd plan` says it. */
export type ObservedSplitSetting =
  | { on: true; requests: number; withinMs: number; path: string; header: string; source: 'router' | 'config'; mapping?: AnswerTag['mapping']; probeHeaders?: AnswerTag['probeHeaders'] }
  | { on: false; why: string };

/**
 * The setting for this run: on where the router names the revision in its answers (the local
 * router's `x-zdd-revision`, HAProxy's `x-zdd-server`) or the config names the app's own header;
 * off when the config says so or nothing names the revision.
 */
export function observedSplitSetting(config: Pick<ZddConfig, 'observedSplit'>, router: TrafficRouter): ObservedSplitSetting {
  const cfg = config.observedSplit ?? {};
  if (cfg.enabled === false) return { on: false, why: 'observedSplit.enabled is false' };
  const common = { requests: cfg.requests ?? OBSERVED_SPLIT_DEFAULTS.requests, withinMs: cfg.within ?? OBSERVED_SPLIT_DEFAULTS.withinMs, path: cfg.path ?? OBSERVED_SPLIT_DEFAULTS.path };
  if (cfg.header) return { on: true, ...common, header: cfg.header.toLowerCase(), source: 'config' };
  const tag = router.answerTag;
  if (tag) return { on: true, ...common, header: tag.header.toLowerCase(), source: 'router', ...(tag.mapping ? { mapping: tag.mapping } : {}), ...(tag.probeHeaders ? { probeHeaders: tag.probeHeaders } : {}) };
  return { on: false, why: 'the router does not name the revision in its answers; set observedSplit.header to a response header the app sets to its revision id' };
}

/** One line for `zdd plan`. */
export function describeObservedSplit(s: ObservedSplitSetting): string {
  if (!s.on) return `observed split: off (${s.why})`;
  return `observed split: after each traffic shift, ${s.requests} requests to ${s.path} within ${formatDuration(s.withinMs)}, counted by the ${s.header} header of each answer; a split far from the weights zdd set, seen again by a second probe, fails the step`;
}

/** What the probe saw. `byRevision` counts answers by the revision their header named (a value that maps to none is kept as it came). */
export interface SplitObservation {
  sent: number;
  byRevision: Record<string, number>;
  /** Answers without the header. */
  untagged: number;
  /** Requests that got no answer (connection error, timeout). */
  failed: number;
}

/**
 * Up to `requests` GETs of `url` (a few at a time), stopping at `withinMs` or `signal`: production
 * requests, like any client's. Each answer's `header` is counted; bodies are read and dropped.
 */
export async function probeSplit(
  url: string,
  opts: { requests: number; withinMs: number; header: string; revisionOf?: (value: string, status: number) => string | undefined; headers?: Record<string, string>; signal?: AbortSignal; concurrency?: number },
): Promise<SplitObservation> {
  // undici loads here, when a shift is probed: every other command starts without its ~110 files.
  const { Agent, request } = await import('undici');
  const out: SplitObservation = { sent: 0, byRevision: {}, untagged: 0, failed: 0 };
  const agent = new Agent({ connections: opts.concurrency ?? OBSERVED_SPLIT_DEFAULTS.concurrency, headersTimeout: opts.withinMs, bodyTimeout: opts.withinMs });
  const deadline = deadlineSignal(opts.withinMs, opts.signal);
  const stop = deadline.signal;
  const worker = async () => {
    while (out.sent < opts.requests && !stop.aborted) {
      out.sent++;
      try {
        const res = await request(url, { method: 'GET', dispatcher: agent, signal: stop, headers: { ...opts.headers, 'user-agent': 'zdd-observed-split' } });
        await res.body.dump();
        const v = res.headers[opts.header];
        const value = Array.isArray(v) ? v[0] : v;
        if (value === undefined || value === '') out.untagged++;
        else {
          const id = opts.revisionOf?.(value, res.statusCode) ?? value;
          out.byRevision[id] = (out.byRevision[id] ?? 0) + 1;
        }
      } catch {
        if (stop.aborted) {
          out.sent--; // cut off by the time limit, not an unanswered request
          break;
        }
        out.failed++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency ?? OBSERVED_SPLIT_DEFAULTS.concurrency }, worker));
  } finally {
    deadline.clear();
    await agent.destroy().catch(() => undefined);
  }
  return out;
}

/** The probe's answers judged against the weights zdd wrote. */
export interface SplitVerdict {
  ok: boolean;
  /** "v2 11 of 100 (set 10%), v1 89 (set 90%)" */
  summary: string;
  /** Why it fails, with the numbers; empty when ok. */
  problems: string[];
  /** Too few answers named a revision to say anything. */
  inconclusive?: string;
}

/**
 * A revision set to 0% that answers, or a share that the written weights make all but impossible
 * (exact binomial test, p < 1e-4, and over 5 points off), fails; so do answers that name no revision
 * or one zdd does not know, beyond 5% of them (a second listener, a CDN, a stale balancer).
 */
export function judgeSplit(written: WeightMap, seen: SplitObservation, header: string, minAnswers = 20): SplitVerdict {
  const named = Object.values(seen.byRevision).reduce((a, b) => a + b, 0);
  const answers = named + seen.untagged;
  const ids = [...new Set([...Object.keys(written).filter((id) => written[id] > 0), ...Object.keys(seen.byRevision)])].sort((a, b) => (written[b] ?? 0) - (written[a] ?? 0) || a.localeCompare(b));
  const summary =
    ids.map((id) => `${id} ${seen.byRevision[id] ?? 0} (set ${written[id] ?? 0}%)`).join(', ') +
    ` of ${answers} answers` +
    (seen.untagged ? `, ${seen.untagged} without ${header}` : '') +
    (seen.failed ? `, ${seen.failed} unanswered` : '');
  if (answers < minAnswers) {
    return { ok: true, summary, problems: [], inconclusive: `only ${answers} of ${seen.sent} requests were answered${seen.failed ? ` (${seen.failed} failed)` : ''}; at least ${minAnswers} are needed to judge the split` };
  }
  const problems: string[] = [];
  if (seen.untagged / answers > MIN_DEVIATION_PP / 100) {
    problems.push(`${seen.untagged} of ${answers} answers carried no ${header} header: something other than the service's revisions answers (a second listener, a CDN or a cache in front)`);
  }
  for (const id of ids) {
    const w = written[id] ?? 0;
    const k = seen.byRevision[id] ?? 0;
    if (named === 0) break;
    const share = (100 * k) / named;
    if (w === 0) {
      if (k > 0) problems.push(`${id} answered ${k} of ${named} requests although zdd set it to 0%${id in written ? '' : ' (zdd did not route to it at all)'}`);
      continue;
    }
    // Only the side that gets too little is named: the share it misses went to the others, and a
    // revision at 100% that misses some is explained by the lines of what answered instead.
    if (w === 100 || share >= w) continue;
    const p = binomialTwoSidedP(k, named, w / 100);
    if (p < ALPHA && w - share > MIN_DEVIATION_PP) problems.push(`${id} answered ${share.toFixed(0)}% (${k} of ${named}) where zdd set ${w}% (that far off by chance: p = ${p.toExponential(1)})`);
  }
  return { ok: problems.length === 0, summary, problems };
}
