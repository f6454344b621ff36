import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { freePort } from './moto.js';
import { startPostgres, type Postgres } from './postgres.js';

/**
 * A real Unleash server (`unleash-server` 6.x from npm, a devDependency) as a child process against
 * its own PostgreSQL cluster, with an admin API token created at start-up (INIT_ADMIN_API_TOKENS).
 * One per test file: it starts in a few seconds after its migrations.
 */

export const UNLEASH_ADMIN_TOKEN = '*:*.zdd-test-admin-token-0123456789';

export interface Unleash {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  token: string;
  /** Admin API call as the test's own client (fixtures and independent read-back). */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startUnleash(): Promise<Unleash> {
  const pg: Postgres = await startPostgres('unleash');
  const port = await freePort();
  const serverJs = createRequire(import.meta.url).resolve('unleash-server/dist/server.js');
  const child: ChildProcess = spawn(process.execPath, [serverJs], {
    env: {
      PATH: process.env.PATH ?? '',
      TZ: 'UTC',
      DATABASE_URL: pg.databaseUrl,
      DATABASE_SSL: 'false',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      INIT_ADMIN_API_TOKENS: UNLEASH_ADMIN_TOKEN,
      LOG_LEVEL: 'error',
      CHECK_VERSION: 'false',
      SEND_TELEMETRY: 'false',
      SCARF_ANALYTICS: 'false',
      DO_NOT_TRACK: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + String(d)).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await pg.stop();
  };
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: UNLEASH_ADMIN_TOKEN, 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Unleash ${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const deadline = Date.now() + 120_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`Unleash exited with code ${child.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`Unleash did not become ready within 120s:\n${output}`);
      const ready = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ready) {
        // The init token is inserted just after the HTTP server listens.
        const authed = await fetch(`${url}/api/admin/projects`, { headers: { authorization: UNLEASH_ADMIN_TOKEN } })
          .then((r) => r.ok)
          .catch(() => false);
        if (authed) break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, token: UNLEASH_ADMIN_TOKEN, api, stop };
}
