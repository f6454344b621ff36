import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import { AdminClient } from './admin-client.js';
import { isAlive, portInUse } from './processes.js';
import { type RouterState, readRouterState, writeRouterState } from './router-state.js';
import type { ResolvedLocalConfig } from './schema.js';

/** How to run the router entry: `node [execArgv] script`. */
export interface RouterEntry {
  execArgv: string[];
  script: string;
}

/** Unix socket paths longer than this do not fit in sockaddr_un on every platform. */
const MAX_SOCKET_PATH = 100;
const START_TIMEOUT_MS = 10_000;

/**
 * The local router as a background process: where its files live, whether it runs, starting it
 * (fresh, or again from its recorded state after it died) and stopping it.
 */
export class RouterProcess {
  readonly statePath: string;
  readonly logPath: string;
  readonly socketPath: string;
  readonly client: AdminClient;
  private verified = false;

  constructor(
    private readonly cfg: ResolvedLocalConfig,
    private readonly service: string,
    readonly dir: string,
    private readonly events: EventSink,
    private readonly entry: RouterEntry = defaultRouterEntry(),
  ) {
    this.statePath = join(dir, 'router.json');
    this.logPath = join(dir, 'router.log');
    const preferred = join(dir, 'admin.sock');
    this.socketPath =
      preferred.length <= MAX_SOCKET_PATH
        ? preferred
        : join(tmpdir(), `zdd-${process.getuid?.() ?? 'user'}`, `${createHash('sha256').update(dir).digest('hex').slice(0, 20)}.sock`);
    this.client = new AdminClient(this.socketPath);
  }

  readState(): Promise<RouterState | null> {
    return readRouterState(this.statePath).catch((e) => {
      throw new ProviderError(`The local router state file ${this.statePath} cannot be read: ${(e as Error).message}`, {
        hint: 'If no deploy is running, `zdd down` removes it (and stops what it recorded).',
      });
    });
  }

  /** running: answers on its socket. stopped: recorded but not answering. absent: never started (or downed). */
  async status(): Promise<{ kind: 'running' | 'stopped' | 'absent'; state: RouterState | null }> {
    const state = await this.readState();
    if (!state) return { kind: 'absent', state };
    return { kind: (await this.client.ping()) ? 'running' : 'stopped', state };
  }

  /**
   * Make sure the router runs: reuse a running one, restart a dead one from its recorded state
   * (saying so), or start a fresh one on the configured port. Checked once per command.
   */
  async ensureRunning(): Promise<void> {
    if (this.verified) return;
    const { kind, state } = await this.status();
    if (kind === 'running') {
      if (state!.port !== this.cfg.port || state!.host !== this.cfg.host) {
        throw new ConfigError([
          {
            path: 'provider.port',
            message: `the local router of "${this.service}" already serves ${state!.host}:${state!.port}, but the config says ${this.cfg.host}:${this.cfg.port}; keep the port, or run \`zdd down\` first (it stops every revision)`,
          },
        ]);
      }
      if (state!.testHeader !== this.cfg.testHeader || state!.testValue !== this.cfg.testValue) {
        await this.client.call('PUT', '/config', { testHeader: this.cfg.testHeader, testValue: this.cfg.testValue });
      }
    } else if (kind === 'stopped') {
      const pid = state!.routerPid;
      const alive = !!pid && isAlive(pid, state!.routerStartTime);
      this.events.emit({
        type: 'warn',
        message: `The local router of "${this.service}" was not running (pid ${pid ?? '?'} ${alive ? 'does not answer' : 'is gone'}); restarting it from ${this.statePath} with weights ${formatWeights(state!.weights)}`,
      });
      if (alive) process.kill(pid!, 'SIGKILL');
      await this.spawnRouter(false);
    } else {
      await this.assertPortFree();
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const fresh: RouterState = {
        version: 1,
        service: this.service,
        host: this.cfg.host,
        port: this.cfg.port,
        socketPath: this.socketPath,
        testHeader: this.cfg.testHeader,
        testValue: this.cfg.testValue,
        testRoute: null,
        weights: {},
        revisions: {},
        instances: [],
        updatedAt: new Date().toISOString(),
      };
      await writeRouterState(this.statePath, fresh);
      await this.spawnRouter(true);
      this.events.emit({ type: 'info', message: `Started the local router of "${this.service}" on http://${this.cfg.host}:${this.cfg.port}` });
    }
    this.verified = true;
  }

  /** A port held by something else is a config problem: nothing is started. */
  async assertPortFree(): Promise<void> {
    if (await portInUse(this.cfg.host, this.cfg.port)) throw portTakenError(this.cfg.host, this.cfg.port);
  }

  /** Ask the router to stop (in-flight requests finish), then make sure its process is gone. */
  async stop(state: RouterState | null): Promise<void> {
    try {
      await this.client.call('POST', '/shutdown', {}, 2_000);
    } catch {
      // not answering: fall through to signals
    }
    const pid = state?.routerPid;
    if (pid) {
      const started = state?.routerStartTime;
      const deadline = Date.now() + 7_000;
      while (isAlive(pid, started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (isAlive(pid, started)) process.kill(pid, 'SIGKILL');
    }
    await rm(this.socketPath, { force: true });
    this.verified = false;
  }

  private async spawnRouter(fresh: boolean): Promise<void> {
    if (this.socketPath !== join(this.dir, 'admin.sock')) await mkdir(join(this.socketPath, '..'), { recursive: true, mode: 0o700 });
    const log = await open(this.logPath, 'a', 0o600);
    let child;
    try {
      child = spawn(process.execPath, [...this.entry.execArgv, this.entry.script, '--state', this.statePath], {
        detached: true,
        stdio: ['ignore', log.fd, log.fd, 'ipc'],
        cwd: this.dir,
        env: { ...process.env, ZDD_SERVICE: this.service },
      });
    } finally {
      await log.close();
    }
    type Msg = { ready: boolean; pid?: number; code?: string; message?: string };
    const msg = await new Promise<Msg>((resolve) => {
      const timer = setTimeout(() => resolve({ ready: false, message: `no answer within ${START_TIMEOUT_MS / 1000}s` }), START_TIMEOUT_MS);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as Msg);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ ready: false, message: `exited with code ${code}` });
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        resolve({ ready: false, message: e.message });
      });
    });
    if (child.connected) child.disconnect();
    child.unref();
    if (msg.ready) return;

    if (child.pid && isAlive(child.pid)) child.kill('SIGKILL');
    // A router that never started must leave nothing behind on a first deploy.
    if (fresh) await rm(this.dir, { recursive: true, force: true });
    if (msg.code === 'EADDRINUSE') throw portTakenError(this.cfg.host, this.cfg.port);
    throw new ProviderError(`The local router of "${this.service}" could not start: ${msg.message ?? 'unknown error'}`, {
      hint: fresh ? `Run it by hand to see why: node ${this.entry.script} --state <file>` : `See ${this.logPath}`,
    });
  }
}

function portTakenError(host: string, port: number): ConfigError {
  return new ConfigError([
    {
      path: 'provider.port',
      message: `port ${port} on ${host} is already in use by another program; stop that program or choose another port (the example reads PORT, e.g. PORT=8081)`,
    },
  ]);
}

export function formatWeights(w: Record<string, number>): string {
  const parts = Object.entries(w).map(([id, n]) => `${id} ${n}%`);
  return parts.length ? parts.join(' | ') : '(none)';
}

/** The built router-main.js next to this module; from TypeScript sources (tests), run it through jiti. */
export function defaultRouterEntry(): RouterEntry {
  const js = fileURLToPath(new URL('./router-main.js', import.meta.url));
  if (existsSync(js)) return { execArgv: [], script: js };
  const ts = fileURLToPath(new URL('./router-main.ts', import.meta.url));
  return { execArgv: ['--import', import.meta.resolve('jiti/register')], script: ts };
}
