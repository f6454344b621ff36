import type { WeightMap } from './provider.js';

/** Only the revisions that have traffic. */
export function nonZero(w: WeightMap): WeightMap {
  return Object.fromEntries(Object.entries(w).filter(([, v]) => v > 0));
}

/** The revisions whose share differs between `a` and `b` (a revision not listed has 0%), sorted. */
export function differingRevisions(a: WeightMap, b: WeightMap): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((id) => (a[id] ?? 0) !== (b[id] ?? 0));
}

/** `v1 90% | v2 10%`, or `empty` when no revision is listed. */
export function formatWeights(w: WeightMap, empty = '(none)'): string {
  const parts = Object.entries(w).map(([id, n]) => `${id} ${n}%`);
  return parts.length ? parts.join(' | ') : empty;
}
