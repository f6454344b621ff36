import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { EventSink } from '../../core/events.js';
import type { RevisionSpec } from '../../core/provider.js';
import { HostsPlatform, type HostInstance, type InstanceLauncher, type InstanceRouting, type Inventory } from '../hosts/hosts-platform.js';
import { ConfigError } from '../../core/errors.js';
import { findProgram, freePort, isAlive, processStartTime, programOf, startDetached, stopGroup, tailFile } from './processes.js';
import { resolveLocalConfig } from './local-provider.js';
import type { LocalProviderConfig, ResolvedLocalConfig } from './schema.js';

/**
 * The local platform's instances when a fronting router (HAProxy) stands in front instead of zdd's
 * own: detached process groups on this machine, each on a free port, recorded in
 * `.zdd/local/<service>/instances.json`. No router process runs; the router learns each revision's
 * instances from the inventory, as it does on the hosts platform.
 */
export class ProcessLauncher implements InstanceLauncher {
  readonly words;

  constructor(
    private readonly cfg: ResolvedLocalConfig,
    private readonly ctx: { service: string; stateDir: string },
  ) {
    this.words = {
      healthHint: (path: string) => `Check that provider.command starts the app on $PORT and that it answers ${path} with 2xx; raise health.timeout if it starts slowly. Logs: ${this.logDir()}`,
      start: 'provider.command',
      stop: 'stopping the process',
      where: `on ${cfg.host}`,
    };
  }

  /** The command must exist (as the local provider checks it with its own router). */
  async preflight(): Promise<void> {
    const program = programOf(this.cfg.command);
    if (!program || (await findProgram(program, this.cfg.cwd, this.cfg.env.PATH ?? process.env.PATH))) return;
    throw new ConfigError([
      { path: 'provider.command', message: `command "${program}" not found${program.includes('/') ? ` (resolved from ${this.cfg.cwd})` : ' on PATH'} or not executable; fix the command or provider.cwd` },
    ]);
  }

  inventoryFile(stateDir: string, service: string): string {
    return join(stateDir, 'local', service, 'instances.json');
  }

  async place(_inv: Inventory, _revisionId: string, missing: number): Promise<{ host: string; port: number }[]> {
    const places: { host: string; port: number }[] = [];
    for (let k = 0; k < missing; k++) places.push({ host: this.cfg.host, port: await freePort(this.cfg.host) });
    return places;
  }

  async start(spec: RevisionSpec, inst: HostInstance): Promise<string | undefined> {
    await mkdir(this.logDir(), { recursive: true, mode: 0o700 });
    const vars: Record<string, string> = { revision: spec.id, port: String(inst.port), service: this.ctx.service };
    const fill = (t: string, quote: boolean) => t.replace(/\{\{\s*(revision|port|service)\s*\}\}/g, (_m, k: string) => (quote ? shellWord(vars[k]) : vars[k]));
    const command = typeof this.cfg.command === 'string' ? fill(this.cfg.command, true) : this.cfg.command.map((a) => fill(a, false));
    const logFile = join(this.logDir(), `${spec.id.replace(/[^A-Za-z0-9_.-]/g, '_')}-${inst.port}.log`);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...this.cfg.env,
      PORT: String(inst.port),
      ZDD_REVISION: spec.id,
      ZDD_SERVICE: this.ctx.service,
      ZDD_INSTANCE: `${spec.id}@${inst.port}`,
    };
    try {
      const started = await startDetached(command, { cwd: this.cfg.cwd, env, logFile });
      inst.pid = started.pid;
      inst.startTime = processStartTime(started.pid);
      inst.logFile = logFile;
      return undefined;
    } catch (e) {
      return `could not start (${(e as Error).message})${(await tailFile(logFile, this.cfg.logLines)) ? `; see ${logFile}` : ''}`;
    }
  }

  async stop(_spec: RevisionSpec, inst: HostInstance): Promise<string | undefined> {
    if (inst.pid === undefined || !isAlive(inst.pid, inst.startTime)) return undefined;
    await stopGroup(inst.pid, this.cfg.stopGraceMs, inst.startTime);
    return undefined;
  }

  private logDir(): string {
    return join(this.ctx.stateDir, 'local', this.ctx.service, 'instances');
  }
}

function shellWord(v: string): string {
  return /^[A-Za-z0-9_.:,+@%/-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** The local platform as a fronting router needs it (registered in src/providers/registry.ts). */
export const localProcessPlatformFactory = {
  create(config: LocalProviderConfig, ctx: { service: string; configDir: string; stateDir: string; clock: Clock; events: EventSink; routing?: InstanceRouting }): HostsPlatform {
    const cfg = resolveLocalConfig(config, ctx.configDir);
    const platform = new HostsPlatform({ health: { path: cfg.healthPath, interval: cfg.healthIntervalMs } }, ctx, new ProcessLauncher(cfg, ctx));
    if (ctx.routing) platform.attachRouting(ctx.routing);
    return platform;
  },
};
