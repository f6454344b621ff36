import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, ProviderError } from '../../core/errors.js';
import type { Provider, ProviderCapabilities, ProviderContext, ProviderFactory, ProviderSnapshot, RevisionState } from '../../core/provider.js';
import { LocalPlatform } from './local-platform.js';
import { LocalRouter } from './local-router.js';
import { findProgram, isAlive, programOf, stopGroup } from './processes.js';
import { formatWeights } from '../../core/weights.js';
import { RouterProcess, type RouterEntry } from './router-process.js';
import type { RouterStatus } from './router/router-server.js';
import { DEAD_MANS_SWITCH, DEFAULT_LIMITS } from './router-state.js';
import { LOCAL_DEFAULTS, type LocalProviderConfig, type ResolvedLocalConfig } from './schema.js';

/**
 * The embedded default provider: revisions are local processes, traffic goes through zdd's own
 * router, a background process on the service port that keeps serving between commands.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly pair = { platform: 'local', router: 'local' };
  get capabilities(): ProviderCapabilities {
    return { weightedTraffic: true, instantSwitch: true, testRoute: true, batches: true, ...(this.cfg.deadMansSwitch.enabled ? { watchdog: DEAD_MANS_SWITCH } : {}) };
  }
  readonly platform: LocalPlatform;
  readonly router: LocalRouter;
  private readonly process: RouterProcess;

  constructor(
    private readonly cfg: ResolvedLocalConfig,
    private readonly ctx: ProviderContext,
    entry?: RouterEntry,
  ) {
    const dir = join(ctx.stateDir, 'local', ctx.service);
    this.process = new RouterProcess(cfg, ctx.service, dir, ctx.events, entry, ctx.stateDir);
    this.router = new LocalRouter(this.process);
    this.platform = new LocalPlatform(cfg, ctx.service, this.process, ctx.clock, ctx.events);
  }

  /** The command must exist; a router that died is restarted from its state (said as a warning); a fresh port must be free. */
  async preflight(): Promise<void> {
    await this.checkCommand();
    const { kind } = await this.process.status();
    if (kind === 'absent') await this.process.assertPortFree();
    else await this.process.ensureRunning();
    await this.pruneDeadInstances();
  }

  async snapshot(): Promise<ProviderSnapshot> {
    const { kind, state } = await this.process.status();
    if (kind === 'absent' || !state) return { revisions: [], weights: {}, testRoute: null, notes: [`local router of "${this.ctx.service}" is not running (nothing deployed here)`] };
    const notes: string[] = [];
    let live: RouterStatus | undefined;
    if (kind === 'running') {
      live = await this.process.client.call<RouterStatus>('GET', '/state');
      notes.push(`router pids ${live.pids.primary} (primary)${live.pids.secondary ? ` and ${live.pids.secondary} (secondary)` : ', no secondary (it is being restarted)'} on http://${state.host}:${state.port}`);
    } else if (kind === 'busy') {
      notes.push(`local router (pid ${state.routerPid ?? '?'}) is alive but did not answer within 1s (busy or paused); showing the recorded state`);
    } else {
      notes.push(
        `local router is NOT running (pid ${state.routerPid ?? '?'} is gone): production traffic on port ${state.port} is refused. ` +
          `The next \`zdd deploy\` or \`zdd rollback\` restarts it from ${this.process.statePath} (recorded weights ${formatWeights(state.weights)})`,
      );
    }
    const s = live?.state ?? state;
    const dms = s.deadMansSwitchFired;
    if (dms) notes.push(`dead-man's switch at ${dms.at}: ${dms.reason}; the router put 100% back on ${dms.restored} (was ${formatWeights(dms.weightsBefore)}). \`zdd rollback\` finishes the job`);
    const revisions: RevisionState[] = Object.entries(s.revisions).map(([id, r]) => {
      const mine = s.instances.filter((i) => i.revision === id);
      const healthy = mine.filter((i) => i.status === 'ready' && isAlive(i.pid, i.startTime)).length;
      const dead = mine.filter((i) => !isAlive(i.pid, i.startTime));
      if (dead.length) notes.push(`${id}: ${dead.length} instance(s) recorded but not running (${dead.map((i) => `pid ${i.pid}`).join(', ')})`);
      return { revision: r.spec, desired: r.desired, healthy };
    });
    return { revisions, weights: { ...s.weights }, testRoute: s.testRoute, notes };
  }

  /** Stop the router and every instance it recorded, then remove the state. */
  async down(): Promise<void> {
    const state = await this.process.readState();
    if (!state) {
      await rm(this.process.dir, { recursive: true, force: true });
      this.ctx.events.emit({ type: 'info', message: `Nothing to stop: no local router state for "${this.ctx.service}"` });
      return;
    }
    let instances = state.instances;
    if (await this.process.client.ping()) {
      instances = (await this.process.client.call<RouterStatus>('GET', '/state')).state.instances;
    }
    await this.process.stop(state);
    await Promise.all(instances.map((i) => stopGroup(i.pid, this.cfg.stopGraceMs, i.startTime)));
    await rm(this.process.dir, { recursive: true, force: true });
    this.ctx.events.emit({ type: 'info', message: `Stopped the local router of "${this.ctx.service}" and ${instances.length} instance${instances.length === 1 ? '' : 's'}` });
  }

  async close(): Promise<void> {
    // Nothing held open: admin calls use one connection each; started processes are unref'd.
  }

  private async checkCommand(): Promise<void> {
    const program = programOf(this.cfg.command);
    if (!program) return;
    const pathVar = this.cfg.env.PATH ?? process.env.PATH;
    if (await findProgram(program, this.cfg.cwd, pathVar)) return;
    throw new ConfigError([
      {
        path: 'provider.command',
        message: `command "${program}" not found${program.includes('/') ? ` (resolved from ${this.cfg.cwd})` : ' on PATH'} or not executable; fix the command or provider.cwd`,
      },
    ]);
  }

  /** Instances whose process died while no command ran (reboot, OOM) cannot serve: forget them, loudly. */
  private async pruneDeadInstances(): Promise<void> {
    if (!(await this.process.client.ping())) return;
    const live = await this.process.client.call<RouterStatus>('GET', '/state');
    for (const i of live.state.instances) {
      if (isAlive(i.pid, i.startTime)) continue;
      this.ctx.events.emit({ type: 'warn', message: `Instance ${i.id} (pid ${i.pid}) is no longer running; removing it from the router` });
      await this.process.client.call('DELETE', '/instance', { id: i.id });
    }
  }
}

export function resolveLocalConfig(config: LocalProviderConfig, configDir: string, env: NodeJS.ProcessEnv = process.env, stateStore: ProviderContext['stateStore'] = 'file'): ResolvedLocalConfig {
  if (config.testRoute?.value && config.testRoute.valueFromEnv) {
    throw new ConfigError([{ path: 'provider.testRoute', message: 'give value or valueFromEnv, not both' }]);
  }
  // The router reads the lock and the records itself, from the state folder on this machine: with
  // the lock elsewhere it would watch files no deploy writes (or an old deploy's), so it is off.
  if (stateStore !== 'file' && config.deadMansSwitch !== undefined && config.deadMansSwitch !== false) {
    throw new ConfigError([
      { path: 'provider.deadMansSwitch', message: `needs the file state store (the router reads the lock on this machine), but state.type is "${stateStore}"; remove it or set it to false (with ${stateStore} state a deploy whose process dies stays where it was until \`zdd rollback\`)` },
    ]);
  }
  return {
    command: config.command,
    port: config.port ?? LOCAL_DEFAULTS.port,
    host: config.host ?? LOCAL_DEFAULTS.host,
    cwd: resolve(configDir, config.cwd ?? '.'),
    env: config.env ?? {},
    healthPath: config.health?.path ?? LOCAL_DEFAULTS.healthPath,
    healthIntervalMs: config.health?.interval ?? LOCAL_DEFAULTS.healthIntervalMs,
    testHeader: config.testRoute?.header ?? LOCAL_DEFAULTS.testHeader,
    sticky: !config.sticky ? null : { cookie: (config.sticky === true ? undefined : config.sticky.cookie) ?? LOCAL_DEFAULTS.stickyCookie, ...(config.sticky !== true && config.sticky.maxAge !== undefined ? { maxAgeS: Math.round(config.sticky.maxAge / 1000) } : {}) },
    testValue: testRouteValue(config, env),
    stopGraceMs: config.stopGrace ?? LOCAL_DEFAULTS.stopGraceMs,
    logLines: config.logLines ?? LOCAL_DEFAULTS.logLines,
    limits: {
      ...DEFAULT_LIMITS,
      ...(config.timeouts?.clientHeaders !== undefined ? { clientHeadersTimeoutMs: config.timeouts.clientHeaders } : {}),
      ...(config.timeouts?.clientIdle !== undefined ? { clientIdleTimeoutMs: config.timeouts.clientIdle } : {}),
      ...(config.timeouts?.upstreamConnect !== undefined ? { upstreamConnectTimeoutMs: config.timeouts.upstreamConnect } : {}),
      ...(config.timeouts?.upstreamHeaders !== undefined ? { upstreamHeadersTimeoutMs: config.timeouts.upstreamHeaders } : {}),
      ...(config.maxConnections !== undefined ? { maxConnections: config.maxConnections } : {}),
    },
    deadMansSwitch: {
      enabled: config.deadMansSwitch !== false && stateStore === 'file',
      strategies: [...(typeof config.deadMansSwitch === 'object' && config.deadMansSwitch.strategies ? config.deadMansSwitch.strategies : LOCAL_DEFAULTS.deadMansSwitchStrategies)],
      intervalMs: (typeof config.deadMansSwitch === 'object' ? config.deadMansSwitch.interval : undefined) ?? LOCAL_DEFAULTS.deadMansSwitchIntervalMs,
    },
  };
}

/** The test route's header value: the config's, else the named (or default) environment variable, else none (the router draws a secret). */
function testRouteValue(config: LocalProviderConfig, env: NodeJS.ProcessEnv): string | undefined {
  const name = config.testRoute?.valueFromEnv;
  if (name) {
    const v = env[name];
    if (!v) throw new ConfigError([{ path: 'provider.testRoute.valueFromEnv', message: `environment variable ${name} is not set (or empty); set it to the test-route header value, or remove valueFromEnv` }]);
    return v;
  }
  return config.testRoute?.value ?? (env[LOCAL_DEFAULTS.testValueEnv] || undefined);
}

export const localProvider: ProviderFactory<LocalProviderConfig> = {
  create(config, ctx) {
    if (!ctx.stateDir) throw new ProviderError('The local provider needs a state directory', { hint: 'This is a bug in the caller: pass ctx.stateDir.' });
    return new LocalProvider(resolveLocalConfig(config, ctx.configDir, process.env, ctx.stateStore), ctx);
  },
};
