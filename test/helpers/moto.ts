import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

/**
 * A real AWS API emulator (moto server) on a free 127.0.0.1 port, for integration tests through
 * the real SDK clients. Missing moto: tests skip with a message, except under CI where it fails.
 */
export interface Moto {
  endpoint: string;
  port: number;
  /** Wipe every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function motoAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status === 0;
}

/** Call at the top of a describe: returns true when the suite must skip (and says why once). */
export function skipWithoutMoto(): boolean {
  if (motoAvailable()) return false;
  if (process.env.CI) throw new Error('moto_server is not installed, and CI must run the AWS tests: pip install "moto[server]"');
  console.warn('Skipping AWS integration tests: moto_server not found. Install it with: pip install "moto[server]"');
  return true;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export async function startMoto(env: Record<string, string> = {}): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start on ${endpoint} within 30s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    port,
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Environment for SDK clients (and the built binary) pointed at the emulator. */
export function motoEnv(moto: Moto): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
  };
}

/**
 * One emulator for a whole test file: started before its tests, stopped after them. Call it
 * inside the describe (or at the top of a guarded block); use the returned value as a Moto.
 */
export function useMoto(env: Record<string, string> = {}): Moto {
  let moto: Moto | undefined;
  beforeAll(async () => {
    moto = await startMoto(env);
  });
  afterAll(async () => {
    await moto?.stop();
  });
  const started = (): Moto => {
    if (!moto) throw new Error('moto is not started yet: use it inside a test or a beforeEach');
    return moto;
  };
  return {
    get endpoint() {
      return started().endpoint;
    },
    get port() {
      return started().port;
    },
    reset: () => started().reset(),
    stop: () => started().stop(),
  };
}
