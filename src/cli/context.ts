import { resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { ProviderError, ZddError, errorMessage } from '../core/errors.js';
import type { Provider, ProviderContext } from '../core/provider.js';
import type { StateStore } from '../core/state.js';
import type { LoadedConfig } from '../config/load-config.js';
import { Engine } from '../engine/engine.js';
import type { FlagProvider } from '../flags/flag-provider.js';
import { createFlagProvider } from '../flags/registry.js';
import { providerFlags } from '../providers/provider-manifest.js';
import { PROVIDER_TYPES } from '../providers/registry.js';
import { localStateDir } from '../state/create-state-store.js';
import { openStateStore } from './open-state-store.js';
import { currentHolder } from '../state/lock-holder.js';
import { recordTimeline, TimelineRecorder } from '../report/timeline-recorder.js';
import { Notifier } from '../notify/notifier.js';
import { restorePrevious } from '../../strategies/index.js';
import { withMaskedRecords } from '../state/masked-records.js';
import type { GlobalOptions } from './main.js';
import type { CommandIO } from './run-cli-command.js';

export interface CommandContext extends LoadedConfig {
  clock: Clock;
  store: StateStore;
  provider: Provider;
  engine: Engine;
  /** The flag service of config `flags`, when one is configured. */
  flags?: FlagProvider;
  stateDir: string;
  /** Close the provider's clients and sockets. */
  close(): Promise<void>;
}

// Kept apart so that the incident path of `zdd rollback`, `zdd flag kill` and `zdd validate` read
// config and state before this module loads; re-exported for the commands that import them from here.
export { commandClock, installCommandClock, loadCommandConfig, maskOutput, resolveStrategy, defaultStrategy } from './command-start.js';
import { commandClock, loadCommandConfig, maskOutput, resolveStrategy } from './command-start.js';

/** Loads config, state store and provider, and wires the engine. */
export async function createContext(globals: GlobalOptions, io: CommandIO, loaded?: LoadedConfig): Promise<CommandContext> {
  loaded ??= await loadCommandConfig(globals, io);
  const clock = commandClock();
  const options = providerFlags(String(loaded.config.provider.type), globals as Record<string, unknown>);
  const stateDir = localStateDir(loaded.config.state, loaded.configDir);
  const strategyDefault = loaded.config.strategies?.default;
  if (strategyDefault) resolveStrategy(loaded, strategyDefault);
  // Promise 12: secrets the config carries (header values, env, env-built commands) are masked in
  // every event, record and log line from here on.
  const secrets = maskOutput(loaded, io);
  const notifier = createNotifier(loaded, globals, io);
  const store = withMaskedRecords(
    recordTimeline(await openStateStore(loaded, globals), timelineRecorder(io)),
    secrets,
  );
  const provider = await createProvider(loaded, { service: loaded.config.service, configDir: loaded.configDir, stateDir, stateStore: loaded.config.state?.type ?? 'file', env: loaded.env, clock, events: io.bus, options });
  const flags = loaded.config.flags ? await createFlagProvider(loaded.config.flags, { configDir: loaded.configDir }) : undefined;
  const engine = new Engine({
    config: loaded.config,
    configDir: loaded.configDir,
    env: loaded.env,
    provider,
    store,
    clock,
    events: io.bus,
    strategy: (name) => resolveStrategy(loaded!, name),
    restoreStrategy: restorePrevious,
    holder: currentHolder(secrets.mask(process.argv.slice(2).join(' ')), Date.now()),
    signal: io.signal,
    flags,
  });
  return {
    ...loaded,
    clock,
    store,
    provider,
    engine,
    flags,
    stateDir,
    close: async () => {
      await provider.close?.().catch(() => undefined);
      await notifier?.flush();
      await flags?.close?.().catch(() => undefined);
    },
  };
}

/** Webhooks from config `notify`, told about the deploy by the events (the engine knows nothing of them). */
function createNotifier(loaded: LoadedConfig, globals: GlobalOptions, io: CommandIO): Notifier | null {
  const targets = loaded.config.notify;
  if (!targets?.length) return null;
  // Absolute: the promote command in a notification must work from wherever the reader runs it.
  const flags = `${globals.config ? ` --config ${resolve(globals.config)}` : ''}${globals.env ? ` --env ${globals.env}` : ''}`;
  const holder = currentHolder('', Date.now());
  let done = false;
  const warnings = {
    // A warning after the `done` event would break "--json ends with done": it goes to stderr then.
    warn: (message: string) => (done ? io.output.stderr(`zdd: warning: ${message}\n`) : queueMicrotask(() => io.bus.emit({ type: 'warn', message }))),
  };
  const notifier = new Notifier(
    targets,
    { service: loaded.config.service, env: loaded.env, who: holder.who, host: holder.host, ciRunUrl: holder.ciRunUrl, promoteCommand: `zdd promote${flags}`, abortCommand: `zdd abort${flags}` },
    warnings,
  );
  io.bus.on((e) => {
    notifier.onEvent(e);
    if (e.type === 'done') done = true;
  });
  return notifier;
}

/** Keeps the deploy's timeline for `zdd report` from the events: the engine knows nothing of it. */
function timelineRecorder(io: CommandIO): TimelineRecorder {
  const holder = currentHolder('', Date.now());
  const recorder = new TimelineRecorder(`${holder.who}@${holder.host}`);
  io.bus.on((e) => recorder.onEvent(e));
  return recorder;
}

async function createProvider(loaded: LoadedConfig, ctx: ProviderContext): Promise<Provider> {
  const type = loaded.config.provider.type as keyof typeof PROVIDER_TYPES;
  const entry = PROVIDER_TYPES[type];
  try {
    const factory = await entry.load();
    return await factory.create(loaded.config.provider as never, ctx);
  } catch (e) {
    if (e instanceof ZddError) throw e;
    throw new ProviderError(`Could not start provider "${type}": ${errorMessage(e)}`, { cause: e });
  }
}
