/**
 * Smooth weighted round robin (the nginx algorithm): over any run of `sum(weights)` picks each
 * entry is chosen exactly `weight` times, and picks are spread out rather than bunched, so the
 * share of requests matches the weights over a short window, not only on average.
 */
export class WeightedPicker {
  private current = new Map<string, number>();

  /** Pick one of the `eligible` ids (weights > 0); undefined when none is eligible. */
  pick(weights: Record<string, number>, eligible: (id: string) => boolean): string | undefined {
    let total = 0;
    let best: string | undefined;
    let bestScore = -Infinity;
    for (const [id, w] of Object.entries(weights)) {
      if (!(w > 0) || !eligible(id)) continue;
      const score = (this.current.get(id) ?? 0) + w;
      this.current.set(id, score);
      total += w;
      if (score > bestScore) {
        bestScore = score;
        best = id;
      }
    }
    // Stryker disable next-line ConditionalExpression: with no pick, an entry for undefined is never read
    if (best !== undefined) this.current.set(best, bestScore - total);
    return best;
  }

  /** Forget accumulated state (after the weights change). */
  reset(): void {
    this.current.clear();
  }
}
