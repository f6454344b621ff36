import type { WeightMap } from '../../core/provider.js';

/** HAProxy's largest server weight. */
export const MAX_SERVER_WEIGHT = 256;

/**
 * Server weights (0–256) that give each revision exactly its percent of the backend's traffic:
 * revision R gets k·p(R) weight units in all, spread over its servers as evenly as whole numbers
 * allow, so R's share is k·p(R) / (k·100) = p(R)%. k is the largest factor that keeps every server
 * at or under 256, so that a revision's servers differ by at most one unit.
 */
export function spreadWeights(percents: WeightMap, serversByRevision: Record<string, string[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const servers of Object.values(serversByRevision)) for (const s of servers) out.set(s, 0);
  const live = Object.entries(percents).filter(([, p]) => p > 0);
  if (live.length === 0) return out;
  let k = Infinity;
  for (const [rev, p] of live) {
    const n = serversByRevision[rev]?.length ?? 0;
    if (n === 0) throw new Error(`revision "${rev}" has ${p}% but no server in the backend`);
    k = Math.min(k, Math.floor((MAX_SERVER_WEIGHT * n) / p));
  }
  for (const [rev, p] of live) {
    const servers = serversByRevision[rev];
    const total = k * p;
    const base = Math.floor(total / servers.length);
    const extra = total - base * servers.length;
    servers.forEach((s, i) => out.set(s, base + (i < extra ? 1 : 0)));
  }
  return out;
}

/** Each revision's percent of the traffic from its servers' weights (two decimals; exact for spreadWeights' output). */
export function percentsOf(weightsByRevision: Record<string, number>): WeightMap {
  const total = Object.values(weightsByRevision).reduce((a, b) => a + b, 0);
  const out: WeightMap = {};
  for (const [rev, w] of Object.entries(weightsByRevision)) out[rev] = total === 0 ? 0 : Math.round((10_000 * w) / total) / 100;
  return out;
}
