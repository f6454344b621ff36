import { Pool, errors as undiciErrors } from 'undici';

/**
 * A bounded keep-alive HTTP load client for tests and benchmarks. Every response is counted by
 * status and by the revision that answered; connection errors and latencies are kept. Load is
 * always bounded in request count and in time, and meant for 127.0.0.1 only.
 */

export interface LoadOptions {
  /** Target URL, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  /** Concurrent keep-alive clients (one connection each). Default 4. */
  concurrency?: number;
  /** Stop after this many requests in total. Default 200_000. */
  maxRequests?: number;
  /** Stop after this long. Default 60_000 ms. */
  maxDurationMs?: number;
  /** Pace each client to at most this many requests per second (default: as fast as answers come). */
  ratePerClient?: number;
  method?: string;
  headers?: Record<string, string>;
  /** Per-request timeout (headers and body). Default 10_000 ms. */
  timeoutMs?: number;
  /**
   * Which revision answered. Default: the `x-zdd-revision` response header (set by the local
   * router), else `x-revision`, else the first word of the body.
   */
  revisionOf?: (res: { status: number; headers: Record<string, string | string[] | undefined>; body: string }) => string | undefined;
  /**
   * Each client acts as a browser session of this many requests: it keeps the cookie its answers
   * set and sends it back, then starts a new session without cookies. `sessions()` tells which
   * revisions each session met. Default: no cookies.
   */
  sessionLength?: number;
  /** With `sessionLength`: `false` drops the cookies answers set (a control group of clients that never come back pinned). Default true. */
  keepCookies?: boolean;
}

/** One cookie-keeping session of a client: when it ran (performance.now()) and the revisions it met, in order. */
export interface SessionLog {
  startedAt: number;
  endedAt: number;
  requests: number;
  /** Revisions that answered, each change of revision appended (["v1", "v2"]: moved once). */
  revisions: string[];
}

/** Counters over some span of the run (the whole run or a window). */
export interface LoadReport {
  /** Responses received (any status) plus connection errors. */
  requests: number;
  /** Responses by HTTP status code. */
  byStatus: Record<number, number>;
  /** Responses by revision that answered (see `revisionOf`). */
  byRevision: Record<string, number>;
  /** 5xx responses by revision. */
  errorsByRevision: Record<string, number>;
  /** Requests that got no HTTP response: refused, reset, timed out. */
  connectionErrors: number;
  /** Distinct connection error messages with counts (for failure messages). */
  connectionErrorKinds: Record<string, number>;
  /** Latency of every completed response, ms, in arrival order. */
  latenciesMs: number[];
  durationMs: number;
}

export interface LoadWindow {
  /** Stop recording into this window and return what it saw. */
  close(): LoadReport;
  /**
   * Resolves once the window's counters satisfy `reached` (checked after every response), instead
   * of waiting a fixed time for enough traffic; rejects after `timeoutMs` naming `what` and the counts.
   */
  until(reached: (r: Readonly<LoadReport>) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

export interface LoadRun {
  /** Counters so far (a copy). */
  report(): LoadReport;
  /** Start recording a separate span (e.g. one canary step); the whole-run counters keep going. */
  window(): LoadWindow;
  /** Stop the load (in-flight requests finish) and return the whole-run report. */
  stop(): Promise<LoadReport>;
  /** The sessions so far (with `sessionLength`), oldest first. */
  sessions(): SessionLog[];
  /** Resolves with the whole-run report when a bound is reached or `stop()` was called. */
  readonly done: Promise<LoadReport>;
}

/** Responses with status >= 500 plus connection errors; pass `allow5xxFrom` to exclude revisions whose app returns 5xx on purpose. */
export function failedRequests(r: LoadReport, opts: { allow5xxFrom?: (revision: string) => boolean } = {}): number {
  let failed = r.connectionErrors;
  for (const [rev, n] of Object.entries(r.errorsByRevision)) {
    if (!opts.allow5xxFrom?.(rev)) failed += n;
  }
  return failed;
}

/** Share (0–100) of responses answered by `revision`. */
export function sharePercent(r: LoadReport, revision: string): number {
  const total = Object.values(r.byRevision).reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : (100 * (r.byRevision[revision] ?? 0)) / total;
}

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const UNKNOWN = '(unknown)';

function defaultRevisionOf(res: { headers: Record<string, string | string[] | undefined>; body: string }): string | undefined {
  const h = res.headers['x-zdd-revision'] ?? res.headers['x-revision'];
  if (typeof h === 'string' && h) return h;
  const first = res.body.trim().split(/\s+/)[0];
  return first || undefined;
}

class Counters {
  readonly r: LoadReport;
  /** Waiting `until` calls, checked after every response. */
  waiters: { reached: (r: LoadReport) => boolean; resolve: () => void }[] = [];
  private readonly started = performance.now();
  private closedAt: number | undefined;
  constructor() {
    this.r = { requests: 0, byStatus: {}, byRevision: {}, errorsByRevision: {}, connectionErrors: 0, connectionErrorKinds: {}, latenciesMs: [], durationMs: 0 };
  }
  response(status: number, revision: string, latencyMs: number): void {
    const r = this.r;
    r.requests++;
    r.byStatus[status] = (r.byStatus[status] ?? 0) + 1;
    r.byRevision[revision] = (r.byRevision[revision] ?? 0) + 1;
    if (status >= 500) r.errorsByRevision[revision] = (r.errorsByRevision[revision] ?? 0) + 1;
    r.latenciesMs.push(latencyMs);
  }
  connectionError(kind: string): void {
    this.r.requests++;
    this.r.connectionErrors++;
    this.r.connectionErrorKinds[kind] = (this.r.connectionErrorKinds[kind] ?? 0) + 1;
  }
  close(): void {
    this.closedAt ??= performance.now();
  }
  copy(): LoadReport {
    const end = this.closedAt ?? performance.now();
    return structuredClone({ ...this.r, durationMs: end - this.started });
  }
}

/** Start load against `opts.url`; it runs until a bound is reached or `stop()` is called. */
export function startLoad(opts: LoadOptions): LoadRun {
  const url = new URL(opts.url);
  const concurrency = opts.concurrency ?? 4;
  const maxRequests = opts.maxRequests ?? 200_000;
  const maxDurationMs = opts.maxDurationMs ?? 60_000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const revisionOf = opts.revisionOf ?? defaultRevisionOf;
  const path = url.pathname + url.search;
  // One connection per client, no pipelining: each client is a keep-alive connection doing one request at a time.
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });

  const total = new Counters();
  const windows = new Set<Counters>();
  let issued = 0;
  let stopping = false;
  const deadline = Date.now() + maxDurationMs;
  const minGapMs = opts.ratePerClient ? 1000 / opts.ratePerClient : 0;

  const sessions: SessionLog[] = [];
  const record = (fn: (c: Counters) => void) => {
    fn(total);
    for (const w of windows) {
      fn(w);
      if (w.waiters.length) w.waiters = w.waiters.filter((x) => !(x.reached(w.r) && (x.resolve(), true)));
    }
  };

  async function client(): Promise<void> {
    let session: SessionLog | undefined;
    let cookie: string | undefined;
    while (!stopping && issued < maxRequests && Date.now() < deadline) {
      issued++;
      const t0 = performance.now();
      if (opts.sessionLength && (!session || session.requests >= opts.sessionLength)) {
        session = { startedAt: t0, endedAt: t0, requests: 0, revisions: [] };
        sessions.push(session);
        cookie = undefined;
      }
      try {
        const headers = cookie ? { ...opts.headers, cookie } : opts.headers;
        const res = await pool.request({ path, method: (opts.method ?? 'GET') as 'GET', headers, signal: AbortSignal.timeout(timeoutMs) });
        const body = await res.body.text();
        const latency = performance.now() - t0;
        const rev = revisionOf({ status: res.statusCode, headers: res.headers, body }) ?? UNKNOWN;
        record((c) => c.response(res.statusCode, rev, latency));
        if (session) {
          const set = opts.keepCookies === false ? undefined : res.headers['set-cookie'];
          const first = Array.isArray(set) ? set[0] : set;
          if (first) cookie = first.split(';')[0].trim();
          session.requests++;
          session.endedAt = performance.now();
          if (session.revisions.at(-1) !== rev) session.revisions.push(rev);
        }
      } catch (e) {
        record((c) => c.connectionError(errorKind(e)));
      }
      if (minGapMs) {
        const wait = minGapMs - (performance.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  const done = (async () => {
    await Promise.all(Array.from({ length: concurrency }, () => client()));
    total.close();
    await pool.close().catch(() => undefined);
    return total.copy();
  })();

  return {
    report: () => total.copy(),
    sessions: () => sessions.map((s) => ({ ...s, revisions: [...s.revisions] })),
    window() {
      const c = new Counters();
      windows.add(c);
      return {
        close() {
          windows.delete(c);
          c.close();
          return c.copy();
        },
        until(reached, what, timeoutMs = 15_000) {
          if (reached(c.r)) return Promise.resolve();
          return new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
              c.waiters = c.waiters.filter((x) => x !== waiter);
              reject(new Error(`load: not ${what} within ${timeoutMs} ms (${c.r.requests} requests, by revision ${JSON.stringify(c.r.byRevision)}, ${c.r.connectionErrors} connection errors)`));
            }, timeoutMs);
            const waiter = { reached, resolve: () => (clearTimeout(timer), resolve()) };
            c.waiters.push(waiter);
          });
        },
      };
    },
    async stop() {
      stopping = true;
      return done;
    },
    done,
  };
}

function errorKind(e: unknown): string {
  if (e instanceof undiciErrors.UndiciError) return `${e.code}: ${e.message}`;
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}
