import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './moto.js';

/**
 * A real Prometheus server (Debian's `prometheus` package) on a free 127.0.0.1 port, scraping
 * in-test exporters, so metric checks run against real PromQL. Missing binary: tests skip with a
 * message, except under CI where it fails.
 */

export const PROMETHEUS_BIN = process.env.ZDD_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export function prometheusAvailable(): boolean {
  return existsSync(PROMETHEUS_BIN);
}

/** Call at the top of a describe: returns true when the suite must skip (and says why once). */
export function skipWithoutPrometheus(): boolean {
  if (prometheusAvailable()) return false;
  if (process.env.CI) throw new Error(`${PROMETHEUS_BIN} is not installed, and CI must run the Prometheus tests: apt-get install -y prometheus`);
  console.warn(`Skipping Prometheus tests: ${PROMETHEUS_BIN} not found. Install it with: apt-get install -y prometheus`);
  return true;
}

export interface Prometheus {
  /** HTTP API address, e.g. http://127.0.0.1:41234 */
  address: string;
  /** Instant query straight to the API (test assertions and readiness waits). */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Polls until `ready(result)` holds, at most `timeoutMs` (real time: the server scrapes on its own clock). */
  waitFor(promql: string, ready: (r: { metric: Record<string, string>; value: [number, string] }[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `targets` (host:port) every `scrapeIntervalMs` (default 500). */
export async function startPrometheus(targets: string[], opts: { scrapeIntervalMs?: number } = {}): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-prom-'));
  const port = await freePort();
  const interval = `${opts.scrapeIntervalMs ?? 500}ms`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  scrape_timeout: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: app',
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  const address = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const res = await fetch(`${address}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${address} within 30s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const query = async (promql: string) => {
    const res = await fetch(`${address}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
    return body.data.result;
  };
  return {
    address,
    query,
    async waitFor(promql, ready, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        last = await query(promql);
        if (ready(last as never)) return;
        if (Date.now() > until) throw new Error(`prometheus: ${promql} not ready within ${timeoutMs}ms; last result ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop,
  };
}

/** An exporter on 127.0.0.1 whose /metrics text the test controls. */
export interface Exporter {
  /** host:port for the scrape config. */
  target: string;
  /** Replace the exposition served from now on (called on every scrape when a function). */
  serve(metrics: string | (() => string)): void;
  /** Scrapes served so far. */
  readonly scrapes: number;
  close(): Promise<void>;
}

export async function startExporter(initial = ''): Promise<Exporter> {
  let body: string | (() => string) = initial;
  let scrapes = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') return res.writeHead(404).end();
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(typeof body === 'function' ? body() : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve(m) {
      body = m;
    },
    get scrapes() {
      return scrapes;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
