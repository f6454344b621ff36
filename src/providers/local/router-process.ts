import { spawn } from 'node:child_process';
import { formatWeights } from '../../core/weights.js';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import { AdminClient, AdminRequestError } from './admin-client.js';
import { isAlive, portInUse } from './processes.js';
import { type RouterState, newTestValue, readRouterState, writeRouterState } from './router-state.js';
import type { RouterStatus } from './router/router-server.js';
import type { ResolvedLocalConfig } from './schema.js';

/**
 * The shared-temp directory that holds a router's socket when the state folder's path is too long
 * must be this user's alone, as ssh demands of ~/.ssh: another local user who made it first could
 * put a socket of their own there and answer zdd's admin calls. Missing is fine (zdd creates it 0700).
 */
export function assertPrivateSocketDir(dir: string): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const uid = process.getuid?.();
  const problem = st.isSymbolicLink()
    ? 'is a symbolic link'
    : !st.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && st.uid !== uid
        ? `belongs to uid ${st.uid}, not to this user (uid ${uid})`
        : (st.mode & 0o022) !== 0
          ? `can be written by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`
          : undefined;
  if (!problem) return;
  throw new ProviderError(`The local router's socket directory ${dir} ${problem}: another user could answer zdd's admin calls there, so zdd does not use it`, {
    hint: `Remove it (\`rm -rf ${dir}\`; zdd makes it again with mode 0700), or give state.dir a shorter path so that the socket lives in the state folder.`,
    code: 'unsafe-socket-dir',
  });
}

/** How to run the router entry: `node [execArgv] script`. */
export interface RouterEntry {
  execArgv: string[];
  script: string;
}

/** Unix socket paths longer than this do not fit in sockaddr_un on every platform. */
const MAX_SOCKET_PATH = 100;
const START_TIMEOUT_MS = 20_000;
/** Admin calls answer in milliseconds; this only bounds a call to a router that stopped answering. */
const CALL_TIMEOUT_MS = 10_000;
/** How long a command waits for a live router process that does not answer (slow is not dead). */
const BUSY_WAIT_MS = 60_000;

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
    /** Directory of the file state store (where lock.json and the deployment records live). */
    private readonly lockDir: string = join(dir, '..', '..'),
  ) {
    this.statePath = join(dir, 'router.json');
    this.logPath = join(dir, 'router.log');
    const preferred = join(dir, 'admin.sock');
    this.socketPath =
      preferred.length <= MAX_SOCKET_PATH
        ? preferred
        : join(tmpdir(), `zdd-${process.getuid?.() ?? 'user'}`, `${createHash('sha256').update(dir).digest('hex').slice(0, 20)}.sock`);
    if (this.socketPath !== preferred) assertPrivateSocketDir(join(this.socketPath, '..'));
    this.client = new AdminClient(this.socketPath);
  }

  readState(): Promise<RouterState | null> {
    return readRouterState(this.statePath).catch((e) => {
      throw new ProviderError(`The local router state file ${this.statePath} cannot be read: ${(e as Error).message}`, {
        hint: 'If no deploy is running, `zdd down` removes it (and stops what it recorded).',
      });
    });
  }

  /**
   * running: answers on its socket. busy: a recorded router process is alive but did not answer
   * within `pingMs` (slow is not dead: it is never killed for that). stopped: recorded, no router
   * process alive. absent: never started (or downed).
   */
  async status(pingMs = 1_000): Promise<{ kind: 'running' | 'busy' | 'stopped' | 'absent'; state: RouterState | null }> {
    const state = await this.readState();
    if (!state) return { kind: 'absent', state };
    if (await this.client.ping(pingMs)) return { kind: 'running', state };
    return { kind: routerAlive(state) ? 'busy' : 'stopped', state };
  }

  /**
   * Make sure the router runs: reuse a running one, wait for a busy one (or for its own restart
   * of a process that died), restart it from its recorded state when no router process is left
   * (saying so), or start a fresh one on the configured port. Checked once per command, and again
   * after a call found it gone.
   */
  async ensureRunning(): Promise<void> {
    if (this.verified) return;
    let { kind, state } = await this.status();
    if (kind === 'busy') ({ kind, state } = await this.waitForAnswer(state!));
    if (kind === 'running') {
      if (state!.port !== this.cfg.port || state!.host !== this.cfg.host) {
        throw new ConfigError([
          {
            path: 'provider.port',
            message: `the local router of "${this.service}" already serves ${state!.host}:${state!.port}, but the config says ${this.cfg.host}:${this.cfg.port}; keep the port, or run \`zdd down\` first (it stops every revision)`,
          },
        ]);
      }
      await this.pushConfig(state!);
    } else if (kind === 'stopped') {
      this.events.emit({
        type: 'warn',
        message: `The local router of "${this.service}" was not running (pid ${state!.routerPid ?? '?'} is gone); restarting it from ${this.statePath} with weights ${formatWeights(state!.weights)}`,
      });
      await this.spawnRouter(false);
      await this.pushConfig((await this.readState())!);
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
        testValue: this.cfg.testValue ?? newTestValue(),
        testValueSecret: this.cfg.testValue === undefined,
        ...(this.cfg.sticky ? { sticky: this.cfg.sticky } : {}),
        testRoute: null,
        weights: {},
        revisions: {},
        instances: [],
        limits: this.cfg.limits,
        deadMansSwitch: this.deadMansSwitchConfig(),
        updatedAt: new Date().toISOString(),
      };
      await writeRouterState(this.statePath, fresh);
      await this.spawnRouter(true);
      this.events.emit({ type: 'info', message: `Started the local router of "${this.service}" on http://${this.cfg.host}:${this.cfg.port}` });
    }
    this.verified = true;
  }

  /**
   * One admin call that survives a router restart: when the router is gone (refused, reset, no
   * answer), find out at once whether a router process is still alive (wait for it, or for its
   * own restart of the one that died) or none is (restart it from router.json), read the weights
   * back, then make the call again. Calls are idempotent, except that a launch already recorded
   * is answered from the state.
   */
  async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.client.call<T>(method, path, body, CALL_TIMEOUT_MS);
    } catch (e) {
      if (e instanceof AdminRequestError) throw e;
      const before = await this.readState();
      this.events.emit({ type: 'warn', message: `The local router of "${this.service}" did not answer (${(e as Error).message}); waiting for it to serve again` });
      this.verified = false;
      await this.ensureRunning();
      const live = await this.client.call<RouterStatus>('GET', '/state', undefined, CALL_TIMEOUT_MS);
      if (before && JSON.stringify(live.state.weights) !== JSON.stringify(before.weights)) {
        this.events.emit({ type: 'warn', message: `The local router of "${this.service}" serves weights ${formatWeights(live.state.weights)} after its restart (recorded: ${formatWeights(before.weights)})` });
      } else {
        this.events.emit({ type: 'info', message: `The local router of "${this.service}" serves again (pid ${live.pid}) with weights ${formatWeights(live.state.weights)}` });
      }
      try {
        return await this.client.call<T>(method, path, body, CALL_TIMEOUT_MS);
      } catch (again) {
        const id = (body as { instance?: { id?: string } } | undefined)?.instance?.id;
        if (again instanceof AdminRequestError && again.status === 409 && path === '/instance' && id) {
          const rec = (await this.client.call<RouterStatus>('GET', '/state')).state.instances.find((i) => i.id === id);
          if (rec) return { instance: rec } as T;
        }
        throw again;
      }
    }
  }

  /** Wait while a recorded router process lives and does not answer; slow is not dead. */
  private async waitForAnswer(state: RouterState): Promise<{ kind: 'running' | 'stopped'; state: RouterState | null }> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    let current: RouterState | null = state;
    while (Date.now() < deadline) {
      if (await this.client.ping(2_000)) return { kind: 'running', state: await this.readState() };
      current = await this.readState();
      if (!current) break;
      if (!routerAlive(current)) {
        // Gone for good only if nobody restarts it within a moment (the other process does at once).
        await new Promise((r) => setTimeout(r, 300));
        current = await this.readState();
        if (current && !routerAlive(current) && !(await this.client.ping(1_000))) return { kind: 'stopped', state: current };
      } else {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new ProviderError(
      `The local router of "${this.service}" (pid ${state.routerPid ?? '?'}) is alive but has not answered on ${this.socketPath} for ${BUSY_WAIT_MS / 1000}s; it is not killed, because it may only be slow`,
      { changed: false, hint: `Look at its log ${this.logPath} and at the machine's load; \`zdd status\` tells when it answers again.` },
    );
  }

  /** The router takes the test header, limits, sticky sessions and dead-man's switch from the config of each command. */
  private async pushConfig(state: RouterState): Promise<void> {
    const dms = this.deadMansSwitchConfig();
    if (
      state.testHeader === this.cfg.testHeader &&
      (this.cfg.testValue === undefined ? state.testValueSecret === true : state.testValue === this.cfg.testValue && !state.testValueSecret) &&
      JSON.stringify(state.limits ?? {}) === JSON.stringify(this.cfg.limits) &&
      JSON.stringify(state.deadMansSwitch ?? null) === JSON.stringify(dms ?? null) &&
      JSON.stringify(state.sticky ?? null) === JSON.stringify(this.cfg.sticky ?? null)
    ) {
      return;
    }
    await this.client.call('PUT', '/config', { testHeader: this.cfg.testHeader, testValue: this.cfg.testValue ?? null, limits: this.cfg.limits, deadMansSwitch: dms ?? null, sticky: this.cfg.sticky ?? null }, CALL_TIMEOUT_MS);
  }

  private deadMansSwitchConfig(): RouterState['deadMansSwitch'] {
    const d = this.cfg.deadMansSwitch;
    return d.enabled ? { stateDir: this.lockDir, strategies: d.strategies, intervalMs: d.intervalMs } : undefined;
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
    const procs = routerProcesses(state);
    const deadline = Date.now() + 7_000;
    while (procs.some((p) => isAlive(p.pid, p.startTime)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    // Stopping is asked for: whatever did not stop by itself is killed (both processes, or one would restart the other).
    for (const p of procs) if (isAlive(p.pid, p.startTime)) process.kill(p.pid, 'SIGKILL');
    await rm(this.socketPath, { force: true });
    this.verified = false;
  }

  private async spawnRouter(fresh: boolean): Promise<void> {
    if (this.socketPath !== join(this.dir, 'admin.sock')) {
      await mkdir(join(this.socketPath, '..'), { recursive: true, mode: 0o700 });
      assertPrivateSocketDir(join(this.socketPath, '..')); // made by someone else since the constructor looked
    }
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
    type Msg = { ready: boolean; code?: string; message?: string };
    const msg = await new Promise<Msg>((resolve) => {
      const timer = setTimeout(() => resolve({ ready: false, message: `no answer within ${START_TIMEOUT_MS / 1000}s` }), START_TIMEOUT_MS);
      child.once('message', (m: { t: string; code?: string; message?: string }) => {
        clearTimeout(timer);
        resolve({ ready: m?.t === 'ready', code: m?.code, message: m?.message });
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

/** The router processes recorded in the state: the primary, and the secondary when recorded. */
function routerProcesses(state: RouterState | null): { pid: number; startTime?: string }[] {
  if (!state) return [];
  const out: { pid: number; startTime?: string }[] = [];
  if (state.routerPid) out.push({ pid: state.routerPid, startTime: state.routerStartTime });
  if (state.secondaryPid) out.push({ pid: state.secondaryPid, startTime: state.secondaryStartTime });
  return out;
}

/** Whether any recorded router process is alive (pid and start time). */
export function routerAlive(state: RouterState): boolean {
  return routerProcesses(state).some((p) => isAlive(p.pid, p.startTime));
}

function portTakenError(host: string, port: number): ConfigError {
  return new ConfigError([
    {
      path: 'provider.port',
      message: `port ${port} on ${host} is already in use by another program; stop that program or choose another port (the example reads PORT, e.g. PORT=8081)`,
    },
  ]);
}

/**
 * The built router/router-main.js beside this module (dist/src and dist/bundle keep the same
 * relative path); from TypeScript sources (tests), run it through jiti.
 */
export function defaultRouterEntry(): RouterEntry {
  const js = fileURLToPath(new URL('./router/router-main.js', import.meta.url));
  if (existsSync(js)) return { execArgv: [], script: js };
  const ts = fileURLToPath(new URL('./router/router-main.ts', import.meta.url));
  return { execArgv: ['--import', import.meta.resolve('jiti/register')], script: ts };
}
