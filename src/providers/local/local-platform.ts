import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { CheckFailedError, ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import type { HealthWaitOptions, Platform, RevisionEndpoints, RevisionSpec } from '../../core/provider.js';
import type { RouterStatus } from './router/router-server.js';
import { AdminRequestError } from './admin-client.js';
import { type ExitInfo, freePort, isAlive, stopGroup, tailFile, urlHost } from './processes.js';
import type { RouterProcess } from './router-process.js';
import type { InstanceRecord } from './router-state.js';
import type { ResolvedLocalConfig } from './schema.js';

/** Poll period while waiting for in-flight requests to finish. */
const DRAIN_POLL_MS = 25;

/**
 * Revisions as local processes: each instance is a detached process group with its own port and
 * log file, registered with the router (which owns the record of them) before it can take traffic.
 */
export class LocalPlatform implements Platform {
  constructor(
    private readonly cfg: ResolvedLocalConfig,
    private readonly service: string,
    private readonly router: RouterProcess,
    private readonly clock: Clock,
    private readonly events: EventSink,
  ) {}

  async provision(revision: RevisionSpec, replicas: number): Promise<void> {
    await this.router.ensureRunning();
    const status = await this.status();
    const existing = status.state.revisions[revision.id];
    await this.router.call('PUT', '/revision', { spec: existing?.spec ?? revision, desired: replicas });
    const active = this.activeInstances(status, revision.id);
    if (active.length < replicas) await this.startInstances(revision.id, replicas - active.length, status);
  }

  async scale(revisionId: string, replicas: number, opts: { drainMs: number }): Promise<void> {
    await this.router.ensureRunning();
    const status = await this.status();
    const rev = status.state.revisions[revisionId];
    if (!rev) throw new ProviderError(`Revision "${revisionId}" is not running on the local provider`, { changed: false, hint: 'Run `zdd status` to see what runs.' });
    await this.router.call('PUT', '/revision', { spec: rev.spec, desired: replicas });
    const active = this.activeInstances(status, revisionId);
    if (active.length < replicas) {
      await this.startInstances(revisionId, replicas - active.length, status);
    } else if (active.length > replicas) {
      // Remove instances that take no traffic yet first, then the newest.
      const order = [...active].sort((a, b) => rank(a) - rank(b) || b.startedAt.localeCompare(a.startedAt));
      await this.drainAndStop(order.slice(0, active.length - replicas), opts.drainMs);
    }
  }

  async waitHealthy(revisionId: string, opts: HealthWaitOptions): Promise<void> {
    const deadline = this.clock.now() + opts.timeoutMs;
    const lastProblem = new Map<string, string>();
    for (;;) {
      const status = await this.status();
      const rev = status.state.revisions[revisionId];
      if (!rev) throw new CheckFailedError(`Revision "${revisionId}" is not running on the local provider`);
      const active = this.activeInstances(status, revisionId);
      const starting = active.filter((i) => i.status === 'starting');
      if (active.length >= rev.desired && starting.length === 0) return;

      for (const inst of starting) {
        const exit = await this.exitOf(inst);
        if (exit) return this.failStart(revisionId, inst, exit, status);
        const probe = await this.probe(inst);
        if (probe === true) {
          await this.router.call('PUT', '/instance-status', { id: inst.id, status: 'ready' });
        } else {
          lastProblem.set(inst.id, probe);
        }
      }
      if (active.length < rev.desired) lastProblem.set(revisionId, `${active.length} of ${rev.desired} instances running`);

      if (this.clock.now() >= deadline) {
        const still = (await this.status()).state.instances.filter((i) => i.revision === revisionId && i.status === 'starting');
        if (still.length === 0 && active.length >= rev.desired) return;
        const why = [...lastProblem.entries()].map(([id, p]) => `${id}: ${p}`).join('; ');
        await this.discard(still);
        throw new CheckFailedError(
          `Revision "${revisionId}" did not become healthy within ${Math.round(opts.timeoutMs / 1000)}s: GET ${this.cfg.healthPath} never answered 2xx (${why || 'no answer'})`,
          `Check that the app listens on $PORT and answers ${this.cfg.healthPath} with 2xx; raise health.timeout if it starts slowly. Logs: ${join(this.router.dir, 'instances')}`,
        );
      }
      await this.clock.sleep(this.cfg.healthIntervalMs, opts.signal);
    }
  }

  async retire(revisionId: string, opts: { drainMs: number }): Promise<void> {
    await this.router.ensureRunning();
    const status = await this.status();
    if (!status.state.revisions[revisionId]) return;
    const weight = status.state.weights[revisionId] ?? 0;
    if (weight > 0) {
      throw new ProviderError(`Revision "${revisionId}" still has ${weight}% of traffic; it cannot be retired`, {
        changed: false,
        hint: 'Shift its traffic away first (zdd rollback or a deploy does that).',
      });
    }
    if (status.state.testRoute === revisionId) await this.router.call('PUT', '/test-route', { revision: null });
    await this.drainAndStop(
      status.state.instances.filter((i) => i.revision === revisionId),
      opts.drainMs,
    );
    await this.router.call('DELETE', '/revision', { id: revisionId });
    const after = await this.status();
    if (Object.keys(after.state.revisions).length === 0) {
      // Nothing left to serve (a first deploy that failed): stop the router so nothing is left running.
      // Instance logs stay for the post-mortem; the next deploy starts a fresh router.
      await this.router.stop(after.state);
      await rm(this.router.statePath, { force: true });
      this.events.emit({ type: 'info', message: `Stopped the local router of "${this.service}": no revision is left to serve` });
    }
  }

  async endpoints(revisionId: string): Promise<RevisionEndpoints> {
    const serviceUrl = `http://${urlHost(this.cfg.host)}:${this.cfg.port}`;
    let instanceUrls: string[] = [];
    let routed = false;
    let testValue = this.cfg.testValue;
    try {
      const status = await this.status();
      routed = status.state.testRoute === revisionId;
      testValue = status.state.testValue;
      instanceUrls = status.state.instances
        .filter((i) => i.revision === revisionId && i.status === 'ready')
        .map((i) => `http://${urlHost(this.cfg.host)}:${i.port}`);
    } catch {
      // router down: the service URL is still where traffic is expected
    }
    // The header reaches this revision only while the test route points at it; otherwise it would
    // silently reach whatever production weights pick, so checks get the instances directly.
    if (!routed || testValue === undefined) return { serviceUrl, instanceUrls };
    // The router's value: the configured one, or the secret it drew when the route was set.
    return { serviceUrl, testUrl: serviceUrl, testHeaders: { [this.cfg.testHeader]: testValue }, instanceUrls };
  }

  private status(): Promise<RouterStatus> {
    return this.router.call<RouterStatus>('GET', '/state');
  }

  private activeInstances(status: RouterStatus, revisionId: string): InstanceRecord[] {
    return status.state.instances.filter((i) => i.revision === revisionId && i.status !== 'draining');
  }

  private async startInstances(revisionId: string, count: number, status: RouterStatus): Promise<void> {
    const logDir = join(this.router.dir, 'instances');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    const used = status.state.instances.filter((i) => i.revision === revisionId).map((i) => Number(i.id.split('#').pop()) || 0);
    let n = Math.max(0, ...used);
    const started: InstanceRecord[] = [];
    try {
      for (let k = 0; k < count; k++) {
        n++;
        const id = `${revisionId}#${n}`;
        const port = await freePort(this.cfg.host);
        const logFile = join(logDir, `${safeName(revisionId)}-${n}.log`);
        const vars = { revision: revisionId, port: String(port), service: this.service };
        const command = typeof this.cfg.command === 'string' ? fillShell(this.cfg.command, vars) : this.cfg.command.map((a) => fill(a, vars));
        const env: Record<string, string> = {
          ...(process.env as Record<string, string>),
          ...this.cfg.env,
          PORT: String(port),
          ZDD_REVISION: revisionId,
          ZDD_SERVICE: this.service,
          ZDD_INSTANCE: id,
        };
        const rec: InstanceRecord = { id, revision: revisionId, port, pid: 0, status: 'starting', logFile, startedAt: new Date().toISOString() };
        let answer: { instance: InstanceRecord };
        try {
          answer = await this.router.call('POST', '/instance', { instance: rec, launch: { command, cwd: this.cfg.cwd, env } });
        } catch (e) {
          if (!(e instanceof AdminRequestError)) throw e;
          const program = Array.isArray(this.cfg.command) ? this.cfg.command[0] : this.cfg.command;
          throw new CheckFailedError(
            `Revision "${revisionId}" could not start: command "${program}" failed to run (${e.message})`,
            'Check provider.command: the program must exist on PATH or relative to provider.cwd, and be executable.',
          );
        }
        started.push(answer.instance);
      }
    } catch (e) {
      await this.discard(started);
      throw e;
    }
    this.events.emit({ type: 'info', message: `Started ${count} instance${count === 1 ? '' : 's'} of ${revisionId}: ${started.map((r) => `pid ${r.pid} port ${r.port}`).join(', ')}` });
  }

  private async exitOf(inst: InstanceRecord): Promise<ExitInfo | undefined> {
    const toInfo = (e: NonNullable<InstanceRecord['exit']>): ExitInfo => ({ code: e.code, signal: e.signal as NodeJS.Signals | null, spawnError: e.spawnError });
    if (inst.exit) return toInfo(inst.exit);
    if (isAlive(inst.pid, inst.startTime)) return undefined;
    // Gone, but the router (its parent) may not have recorded the exit code yet: give it a moment.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const rec = (await this.status()).state.instances.find((r) => r.id === inst.id);
      if (rec?.exit) return toInfo(rec.exit);
    }
    return { code: null, signal: null };
  }

  private async failStart(revisionId: string, inst: InstanceRecord, exit: ExitInfo, status: RouterStatus): Promise<never> {
    const tail = await tailFile(inst.logFile, this.cfg.logLines);
    await this.discard(status.state.instances.filter((i) => i.revision === revisionId && i.status === 'starting'));
    const how = exit.spawnError ? `could not start (${exit.spawnError})` : exit.code !== null ? `exited with code ${exit.code}` : exit.signal ? `was killed by ${exit.signal}` : 'exited';
    const notFound = exit.code === 127 ? ` — command not found: ${typeof this.cfg.command === 'string' ? this.cfg.command : this.cfg.command[0]}` : '';
    throw new CheckFailedError(
      `Revision "${revisionId}" instance ${inst.id} (pid ${inst.pid}) ${how} while starting${notFound}.` + (tail ? `\nLast lines of ${inst.logFile}:\n${indent(tail)}` : ` Its log ${inst.logFile} is empty.`),
      exit.code === 127 ? 'Check provider.command: the program must exist on PATH or relative to provider.cwd.' : `Run the command by hand with PORT set to see why it stops.`,
    );
  }

  /** Stop instances that never took traffic and forget them. */
  private async discard(instances: InstanceRecord[]): Promise<void> {
    await Promise.all(
      instances.map(async (i) => {
        await stopGroup(i.pid, this.cfg.stopGraceMs, i.startTime);
        await this.router.call('DELETE', '/instance', { id: i.id }).catch(() => undefined);
      }),
    );
  }

  /** No new requests, wait for in-flight ones (at most drainMs), then SIGTERM (SIGKILL after stopGrace). */
  private async drainAndStop(instances: InstanceRecord[], drainMs: number): Promise<void> {
    if (instances.length === 0) return;
    for (const i of instances) await this.router.call('PUT', '/instance-status', { id: i.id, status: 'draining' });
    const deadline = this.clock.now() + drainMs;
    for (;;) {
      const { inflight } = await this.status();
      const busy = instances.filter((i) => (inflight[i.id] ?? 0) > 0);
      if (busy.length === 0) break;
      if (this.clock.now() >= deadline) {
        this.events.emit({ type: 'warn', message: `Drain time (${drainMs}ms) ran out with requests still in flight on ${busy.map((i) => i.id).join(', ')}; stopping anyway` });
        break;
      }
      await this.clock.sleep(DRAIN_POLL_MS);
    }
    await Promise.all(
      instances.map(async (i) => {
        // Stop first, forget after: a command killed in between leaves a record of a dead process
        // (pruned later), never a running process nobody knows about.
        const how = await stopGroup(i.pid, this.cfg.stopGraceMs, i.startTime);
        if (how === 'killed') this.events.emit({ type: 'warn', message: `Instance ${i.id} (pid ${i.pid}) ignored SIGTERM for ${this.cfg.stopGraceMs}ms and was killed` });
        await this.router.call('DELETE', '/instance', { id: i.id });
      }),
    );
  }

  /** true when the health path answers 2xx; otherwise what was seen. */
  private probe(inst: InstanceRecord): Promise<true | string> {
    return new Promise((resolve) => {
      const req = request(
        { host: this.cfg.host, port: inst.port, path: this.cfg.healthPath, method: 'GET', timeout: 2_000, agent: false, headers: { 'user-agent': 'zdd-health' } },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 300 ? true : `answered ${code}`);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out after 2s')));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? `nothing listens on port ${inst.port}` : e.message));
      req.end();
    });
  }
}

function rank(i: InstanceRecord): number {
  return i.status === 'starting' ? 0 : 1;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*(revision|port|service)\s*\}\}/g, (_m, k: string) => vars[k]);
}

/** Like fill, but values are quoted for /bin/sh when they are not plain words. */
function fillShell(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*(revision|port|service)\s*\}\}/g, (_m, k: string) => {
    const v = vars[k];
    return /^[A-Za-z0-9_.:,+@%/-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
  });
}
