import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { CheckFailedError, ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import type { HealthWaitOptions, Platform, RevisionEndpoints, RevisionSpec, RevisionState } from '../../core/provider.js';
import { runCommand } from '../../hooks/run-command.js';
import { HOSTS_DEFAULTS, type HostsPlatformConfig } from './schema.js';

/** What a router does for a platform whose instances come and go (HAProxy's slots). */
export interface InstanceRouting {
  /** A revision has new healthy instances: they join at the revision's share. */
  instancesChanged(revisionId: string): Promise<void>;
  /** Take these instances out of routing and wait for their requests (at most `drainMs`). */
  drainInstances(revisionId: string, instanceUrls: string[], opts: { drainMs: number }): Promise<void>;
}

type InstanceStatus = 'starting' | 'ready' | 'draining';
/** One instance in the inventory: where it listens, and (for processes on this machine) which process it is. */
export interface HostInstance {
  host: string;
  port: number;
  status: InstanceStatus;
  /** Set by a launcher that starts the process itself (the local platform behind a fronting router). */
  pid?: number;
  startTime?: string;
  logFile?: string;
}
export interface Inventory {
  revisions: Record<string, { spec: RevisionSpec; desired: number; instances: HostInstance[] }>;
}

/**
 * How instances start and stop: the user's commands on hosts (here), or processes on this machine
 * (src/providers/local/process-launcher.ts). The platform around it keeps the inventory, probes
 * health and asks the router to drain an instance before it stops.
 */
export interface InstanceLauncher {
  /** The inventory file under the state directory. */
  inventoryFile(stateDir: string, service: string): string;
  /** Host and port for each instance `revisionId` still needs (`missing` of them); throws ProviderError when there is no room. */
  place(inv: Inventory, revisionId: string, missing: number): Promise<{ host: string; port: number }[]>;
  /** Start one instance (recorded as starting already); undefined when it started, else what went wrong. */
  start(spec: RevisionSpec, inst: HostInstance): Promise<string | undefined>;
  /** Stop one instance (already drained); undefined when it stopped, else what went wrong. */
  stop(spec: RevisionSpec, inst: HostInstance): Promise<string | undefined>;
  /** Checks before anything changes (the local launcher: the command exists); throws ConfigError or ProviderError. */
  preflight?(): Promise<void>;
  /** The hint of a health timeout, and the config keys named in errors. */
  words: { healthHint(path: string): string; start: string; stop: string; where: string };
}

/**
 * Revisions on hosts that the user's own commands start and stop. zdd keeps the inventory (which
 * revision runs on which host and port) in its state directory, probes health over HTTP, and asks
 * the router to drain an instance before the retire command stops it.
 */
export class HostsPlatform implements Platform {
  readonly name = 'hosts';
  readonly capabilities = { batches: true, scaleToZero: true, surge: true };
  private routing?: InstanceRouting;
  private readonly file: string;
  private readonly launcher: InstanceLauncher;

  constructor(
    private readonly cfg: Pick<HostsPlatformConfig, 'health'> & Partial<HostsPlatformConfig>,
    private readonly ctx: { service: string; configDir: string; stateDir: string; clock: Clock; events: EventSink },
    launcher?: InstanceLauncher,
  ) {
    this.launcher = launcher ?? new CommandLauncher(cfg as HostsPlatformConfig, ctx);
    this.file = this.launcher.inventoryFile(ctx.stateDir, ctx.service);
  }

  /** What the launcher checks before anything changes. */
  async preflight(): Promise<void> {
    await this.launcher.preflight?.();
  }

  /** The router that must hear of instances before they stop (set when the provider is composed). */
  attachRouting(routing: InstanceRouting): void {
    this.routing = routing;
  }

  async provision(revision: RevisionSpec, replicas: number): Promise<void> {
    const inv = await this.read();
    const rev = (inv.revisions[revision.id] ??= { spec: revision, desired: 0, instances: [] });
    rev.desired = replicas;
    await this.write(inv);
    await this.startMissing(inv, revision.id);
  }

  async scale(revisionId: string, replicas: number, opts: { drainMs: number }): Promise<void> {
    const inv = await this.read();
    const rev = inv.revisions[revisionId];
    if (!rev) throw new ProviderError(`Revision "${revisionId}" is not running on the hosts platform`, { hint: 'Run `zdd status` to see what runs.' });
    rev.desired = replicas;
    await this.write(inv);
    const active = rev.instances.filter((i) => i.status !== 'draining');
    if (active.length < replicas) return this.startMissing(inv, revisionId);
    // Remove those not yet taking traffic first, then the last started (on the hosts platform: from the last host).
    const order = [...active].sort((a, b) => rank(a) - rank(b) || rev.instances.indexOf(b) - rev.instances.indexOf(a));
    await this.drainAndRetire(inv, revisionId, order.slice(0, active.length - replicas), opts.drainMs);
  }

  async waitHealthy(revisionId: string, opts: HealthWaitOptions): Promise<void> {
    const deadline = this.ctx.clock.now() + opts.timeoutMs;
    const interval = this.cfg.health?.interval ?? HOSTS_DEFAULTS.healthIntervalMs;
    const lastProblem = new Map<string, string>();
    for (;;) {
      const inv = await this.read();
      const rev = inv.revisions[revisionId];
      if (!rev) throw new CheckFailedError(`Revision "${revisionId}" is not running on the hosts platform`);
      const starting = rev.instances.filter((i) => i.status === 'starting');
      let changed = false;
      for (const inst of starting) {
        const probe = await this.probe(inst);
        if (probe === true) {
          inst.status = 'ready';
          changed = true;
        } else lastProblem.set(url(inst), probe);
      }
      if (changed) {
        await this.write(inv);
        await this.routing?.instancesChanged(revisionId);
      }
      if (rev.instances.filter((i) => i.status === 'ready').length >= rev.desired) return;
      if (this.ctx.clock.now() >= deadline) {
        const why = [...lastProblem.entries()].map(([u, p]) => `${u}: ${p}`).join('; ');
        const path = this.cfg.health?.path ?? HOSTS_DEFAULTS.healthPath;
        const never = rev.instances.filter((i) => i.status === 'starting');
        await this.retireInstances(inv, revisionId, never);
        throw new CheckFailedError(
          `Revision "${revisionId}" did not become healthy within ${Math.round(opts.timeoutMs / 1000)}s: GET ${path} never answered 2xx (${why || 'no answer'})`,
          this.launcher.words.healthHint(path),
        );
      }
      await this.ctx.clock.sleep(interval, opts.signal);
    }
  }

  async retire(revisionId: string, opts: { drainMs: number }): Promise<void> {
    const inv = await this.read();
    const rev = inv.revisions[revisionId];
    if (!rev) return;
    await this.drainAndRetire(inv, revisionId, [...rev.instances], opts.drainMs);
    delete inv.revisions[revisionId];
    await this.write(inv);
  }

  /** `zdd down`: stop every instance of every revision with the retire command (after draining it), and forget them. */
  async down(): Promise<void> {
    const inv = await this.read();
    for (const id of Object.keys(inv.revisions)) await this.retire(id, { drainMs: 0 });
    this.ctx.events.emit({ type: 'info', message: `Stopped every instance of "${this.ctx.service}" ${this.launcher.words.where}` });
  }

  async endpoints(revisionId: string): Promise<RevisionEndpoints> {
    const rev = (await this.read()).revisions[revisionId];
    return { instanceUrls: (rev?.instances ?? []).filter((i) => i.status === 'ready').map(url) };
  }

  /** Each revision with its size and how many of its instances answer their health path now. */
  async snapshot(): Promise<{ revisions: RevisionState[]; notes: string[] }> {
    const inv = await this.read();
    const notes = Object.entries(inv.revisions).map(([id, r]) => `${id}: ${r.instances.map((i) => `${url(i)} ${i.status}`).join(', ') || 'no instance'}`);
    const revisions = await Promise.all(
      Object.values(inv.revisions).map(async (r) => {
        const healthy = (await Promise.all(r.instances.filter((i) => i.status === 'ready').map((i) => this.probe(i)))).filter((p) => p === true).length;
        return { revision: r.spec, desired: r.desired, healthy };
      }),
    );
    return { revisions, notes };
  }

  private async startMissing(inv: Inventory, revisionId: string): Promise<void> {
    const rev = inv.revisions[revisionId];
    const active = rev.instances.filter((i) => i.status !== 'draining');
    if (active.length >= rev.desired) return;
    const places = await this.launcher.place(inv, revisionId, rev.desired - active.length);
    const started: HostInstance[] = [];
    for (const { host, port } of places) {
      const inst: HostInstance = { host, port, status: 'starting' };
      rev.instances.push(inst);
      // Recorded before the command runs: a zdd killed mid-command leaves an instance the next run can retire.
      await this.write(inv);
      const result = await this.launcher.start(rev.spec, inst);
      if (result) {
        rev.instances = rev.instances.filter((i) => i !== inst);
        await this.write(inv);
        await this.retireInstances(inv, revisionId, started);
        throw new CheckFailedError(`Revision "${revisionId}" could not start on ${host}:${port}: ${this.launcher.words.start} ${result}`, 'Run the command by hand to see why; it must start the instance and return 0.');
      }
      await this.write(inv);
      started.push(inst);
    }
    if (started.length) this.ctx.events.emit({ type: 'info', message: `Started ${revisionId} on ${started.map(url).join(', ')}` });
  }

  private async drainAndRetire(inv: Inventory, revisionId: string, instances: HostInstance[], drainMs: number): Promise<void> {
    if (instances.length === 0) return;
    for (const i of instances) i.status = 'draining';
    await this.write(inv);
    await this.routing?.drainInstances(revisionId, instances.map(url), { drainMs });
    await this.retireInstances(inv, revisionId, instances);
  }

  /** Run the retire command for each instance and forget it; a failing command is an error that names it (the record keeps the instance). */
  private async retireInstances(inv: Inventory, revisionId: string, instances: HostInstance[]): Promise<void> {
    const rev = inv.revisions[revisionId];
    for (const inst of instances) {
      const failed = await this.launcher.stop(rev?.spec ?? { id: revisionId }, inst);
      if (failed) {
        await this.write(inv);
        throw new ProviderError(`Could not stop ${revisionId} on ${inst.host}:${inst.port}: ${this.launcher.words.stop} ${failed}`, {
          changed: true,
          hint: 'Stop it by hand; the next deploy or `zdd retire` tries again.',
        });
      }
      if (rev) rev.instances = rev.instances.filter((i) => i !== inst);
      await this.write(inv);
    }
  }

  private probe(inst: HostInstance): Promise<true | string> {
    const path = this.cfg.health?.path ?? HOSTS_DEFAULTS.healthPath;
    return new Promise((resolve) => {
      const req = request({ host: inst.host, port: inst.port, path, method: 'GET', timeout: 2_000, agent: false, headers: { 'user-agent': 'zdd-health' } }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 300 ? true : `answered ${code}`);
      });
      req.on('timeout', () => req.destroy(new Error('timed out after 2s')));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? `nothing listens on ${inst.host}:${inst.port}` : e.message));
      req.end();
    });
  }

  private async read(): Promise<Inventory> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Inventory;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { revisions: {} };
      throw new ProviderError(`The hosts inventory ${this.file} cannot be read: ${(e as Error).message}`, { hint: 'It lists which revision runs on which host and port; restore it or remove it after stopping the instances by hand.' });
    }
  }

  private async write(inv: Inventory): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(inv, null, 2)}\n`);
    await rename(tmp, this.file);
  }
}


/** The hosts platform's launcher: the user's provision and retire commands, one instance of a revision per host. */
class CommandLauncher implements InstanceLauncher {
  private readonly cwd: string;
  readonly words;
  constructor(
    private readonly cfg: HostsPlatformConfig,
    private readonly ctx: { service: string; configDir: string },
  ) {
    this.cwd = resolve(ctx.configDir, cfg.cwd ?? '.');
    this.words = {
      healthHint: (path: string) => `Check that provider.provision starts the app on {{port}} of {{host}} and that it answers ${path} with 2xx from this machine; raise health.timeout if it starts slowly.`,
      start: 'provider.provision',
      stop: 'provider.retire',
      where: `on ${cfg.hosts.join(', ')}`,
    };
  }

  inventoryFile(stateDir: string, service: string): string {
    return join(stateDir, 'hosts', `${service}.json`);
  }

  async place(inv: Inventory, revisionId: string): Promise<{ host: string; port: number }[]> {
    const rev = inv.revisions[revisionId];
    const active = rev.instances.filter((i) => i.status !== 'draining');
    if (rev.desired > this.cfg.hosts.length) {
      throw new ProviderError(`Revision "${revisionId}" needs ${rev.desired} instances, and provider.hosts lists ${this.cfg.hosts.length} host${this.cfg.hosts.length === 1 ? '' : 's'} (one instance of a revision per host)`, {
        hint: 'Add hosts to provider.hosts or lower replicas.',
      });
    }
    const places: { host: string; port: number }[] = [];
    for (const host of this.cfg.hosts.slice(0, rev.desired)) {
      if (active.some((i) => i.host === host)) continue;
      const used = new Set(Object.values(inv.revisions).flatMap((r) => r.instances.filter((i) => i.host === host).map((i) => i.port)));
      const port = this.cfg.ports.find((p) => !used.has(p));
      if (port === undefined) {
        throw new ProviderError(`Host ${host} has no free port for revision "${revisionId}": provider.ports ${this.cfg.ports.join(', ')} are all taken by ${Object.keys(inv.revisions).filter((r) => r !== revisionId).join(', ')}`, {
          hint: 'Retire a revision first (`zdd retire`), or add a port to provider.ports.',
        });
      }
      places.push({ host, port });
    }
    return places;
  }

  start(spec: RevisionSpec, inst: HostInstance): Promise<string | undefined> {
    return this.runTemplate(this.cfg.provision, spec, inst);
  }

  stop(spec: RevisionSpec, inst: HostInstance): Promise<string | undefined> {
    return this.runTemplate(this.cfg.retire, spec, inst);
  }

  /** Run a command template for one instance; undefined when it exited 0, else what went wrong. */
  private async runTemplate(template: string, spec: RevisionSpec, inst: HostInstance): Promise<string | undefined> {
    const vars: Record<string, string> = { host: inst.host, port: String(inst.port), revision: spec.id, image: spec.image ?? '', service: this.ctx.service };
    const command = template.replace(/\{\{\s*(host|port|revision|image|service)\s*\}\}/g, (_m, k: string) => shellWord(vars[k]));
    const r = await runCommand(command, {
      cwd: this.cwd,
      env: { ...(process.env as Record<string, string>), ...(this.cfg.env ?? {}), ZDD_HOST: inst.host, ZDD_PORT: String(inst.port), ZDD_REVISION: spec.id, ZDD_IMAGE: spec.image ?? '', ZDD_SERVICE: this.ctx.service },
      timeoutMs: this.cfg.commandTimeout ?? HOSTS_DEFAULTS.commandTimeoutMs,
    });
    if (r.exitCode === 0 && !r.timedOut) return undefined;
    const how = r.spawnError ? `could not start (${r.spawnError})` : r.timedOut ? `timed out after ${r.durationMs}ms` : r.exitCode !== null ? `exited with code ${r.exitCode}` : `was killed by ${r.signal}`;
    const tail = r.stderrTail.length ? `; last lines of stderr:\n${r.stderrTail.map((l) => `    ${l}`).join('\n')}` : '';
    return `\`${command}\` ${how}${tail}`;
  }

}

export function url(i: HostInstance): string {
  return `http://${i.host.includes(':') ? `[${i.host}]` : i.host}:${i.port}`;
}

function rank(i: HostInstance): number {
  return i.status === 'starting' ? 0 : 1;
}

function shellWord(v: string): string {
  return /^[A-Za-z0-9_.:,+@%/-]*$/.test(v) && v !== '' ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** The platform registry's factory: the router is reached through `ctx.routing` (composition wires it). */
export const hostsPlatformFactory = {
  create(config: HostsPlatformConfig, ctx: { service: string; configDir: string; stateDir: string; clock: Clock; events: EventSink; routing?: InstanceRouting }): HostsPlatform {
    const platform = new HostsPlatform(config, ctx, new CommandLauncher(config, ctx));
    if (ctx.routing) platform.attachRouting(ctx.routing);
    return platform;
  },
};
