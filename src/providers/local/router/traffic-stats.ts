import type { RevisionTrafficSample } from '../../../core/provider.js';

interface Entry {
  at: number;
  latencyMs: number;
  error: boolean;
}

/** How long and how many request outcomes are kept per revision. */
const KEEP_MS = 15 * 60_000;
const KEEP_MAX = 200_000;
/** At most this many latency samples are returned per revision (evenly thinned). */
const MAX_SAMPLES = 5_000;

/**
 * Per-revision request outcomes over a sliding window, for the `router` metric check. An error is
 * a 5xx from the app or a 502/503 the router answered because the revision could not.
 */
export class TrafficStats {
  private readonly byRevision = new Map<string, { entries: Entry[]; head: number; requests: number; errors: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  record(revision: string, latencyMs: number, error: boolean): void {
    let r = this.byRevision.get(revision);
    if (!r) {
      r = { entries: [], head: 0, requests: 0, errors: 0 };
      this.byRevision.set(revision, r);
    }
    r.requests++;
    if (error) r.errors++;
    r.entries.push({ at: this.now(), latencyMs, error });
    if (r.entries.length - r.head > KEEP_MAX) r.head++;
    if (r.head > 50_000) this.compact(r);
  }

  /** Requests, errors and latency samples per revision over the last `windowMs`. */
  sample(revisions: string[], windowMs: number): RevisionTrafficSample[] {
    const since = this.now() - windowMs;
    return revisions.map((revision) => {
      const r = this.byRevision.get(revision);
      if (!r) return { revision, requests: 0, errors: 0, latenciesMs: [] };
      let start = r.entries.length;
      // Entries are in time order: walk back from the newest.
      while (start > r.head && r.entries[start - 1].at >= since) start--;
      const window = r.entries.slice(start);
      const errors = window.reduce((n, e) => n + (e.error ? 1 : 0), 0);
      const stride = Math.max(1, Math.ceil(window.length / MAX_SAMPLES));
      const latenciesMs: number[] = [];
      for (let i = 0; i < window.length; i += stride) latenciesMs.push(Math.round(window[i].latencyMs * 1000) / 1000);
      return { revision, requests: window.length, errors, latenciesMs };
    });
  }

  /** Totals since the router started, per revision. */
  totals(): Record<string, { requests: number; errors: number }> {
    const out: Record<string, { requests: number; errors: number }> = {};
    for (const [id, r] of this.byRevision) out[id] = { requests: r.requests, errors: r.errors };
    return out;
  }

  /** Drop entries older than the retention time. */
  prune(): void {
    const cutoff = this.now() - KEEP_MS;
    for (const r of this.byRevision.values()) {
      while (r.head < r.entries.length && r.entries[r.head].at < cutoff) r.head++;
      this.compact(r);
    }
  }

  private compact(r: { entries: Entry[]; head: number }): void {
    if (r.head === 0) return;
    r.entries = r.entries.slice(r.head);
    r.head = 0;
  }
}

/** One sample per revision from the samples of several router processes: counts added, latencies joined (thinned). */
export function mergeSamples(parts: RevisionTrafficSample[][]): RevisionTrafficSample[] {
  if (parts.length === 1) return parts[0];
  const out = new Map<string, RevisionTrafficSample>();
  for (const part of parts) {
    for (const s of part) {
      const m = out.get(s.revision);
      if (!m) {
        out.set(s.revision, { revision: s.revision, requests: s.requests, errors: s.errors, latenciesMs: [...(s.latenciesMs ?? [])] });
        continue;
      }
      m.requests += s.requests;
      m.errors += s.errors;
      m.latenciesMs!.push(...(s.latenciesMs ?? []));
    }
  }
  for (const m of out.values()) {
    const lat = m.latenciesMs!;
    if (lat.length > MAX_SAMPLES) {
      const stride = lat.length / MAX_SAMPLES;
      m.latenciesMs = Array.from({ length: MAX_SAMPLES }, (_, i) => lat[Math.floor(i * stride)]);
    }
  }
  return [...out.values()];
}
