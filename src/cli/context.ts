import type { Clock } from '../core/clock.js';
import { FakeClock, systemClock } from '../core/clock.js';
import { ProviderError, UsageError, ZddError, errorMessage } from '../core/errors.js';
import type { Provider, ProviderContext } from '../core/provider.js';
import type { StateStore } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { Engine } from '../engine/engine.js';
import { createFlagProvider } from '../flags/registry.js';
import { PROVIDER_TYPES } from '../providers/registry.js';
import { createStateStore, localStateDir } from '../state/create-state-store.js';
import { currentHolder } from '../state/lock-holder.js';
import { BUILT_IN_STRATEGIES, FLAG_STRATEGIES, RECORD_STRATEGIES, restorePrevious } from '../../strategies/index.js';
import type { GlobalOptions } from './main.js';
import type { CommandIO } from './run-cli-command.js';

export interface CommandContext extends LoadedConfig {
  clock: Clock;
  store: StateStore;
  provider: Provider;
  engine: Engine;
  stateDir: string;
  /** Close the provider's clients and sockets. */
  close(): Promise<void>;
}

/**
 * The clock commands use. `ZDD_TEST_CLOCK=fast` makes every wait return at once with time jumping
 * ahead: the test suite drives the built binary through bakes without sleeping through them.
 */
export function commandClock(env: NodeJS.ProcessEnv = process.env): Clock {
  return env.ZDD_TEST_CLOCK === 'fast' ? new FakeClock(Date.now(), true) : systemClock;
}

export async function loadCommandConfig(globals: GlobalOptions): Promise<LoadedConfig> {
  return loadConfig({ configPath: globals.config, cwd: process.cwd(), env: globals.env });
}

/** A strategy by name: config plugins, built-ins, and those only records name (resuming a restore). */
export function resolveStrategy(loaded: LoadedConfig, name: string): Strategy {
  const plugins = loaded.config.strategies?.plugins ?? {};
  const s = plugins[name] ?? BUILT_IN_STRATEGIES[name] ?? FLAG_STRATEGIES[name] ?? RECORD_STRATEGIES[name];
  if (!s) {
    const known = [...Object.keys(BUILT_IN_STRATEGIES), ...(loaded.config.flags ? Object.keys(FLAG_STRATEGIES) : []), ...Object.keys(plugins)];
    throw new UsageError(`Unknown strategy "${name}"`, `Use one of: ${known.join(', ')} (plugins come from strategies.plugins in the config).`);
  }
  return s;
}

export function defaultStrategy(loaded: LoadedConfig): string {
  return loaded.config.strategies?.default ?? 'canary';
}

/** Loads config, state store and provider, and wires the engine. */
export async function createContext(globals: GlobalOptions, io: CommandIO, loaded?: LoadedConfig): Promise<CommandContext> {
  loaded ??= await loadCommandConfig(globals);
  const clock = commandClock();
  const options = { region: globals.region, profile: globals.profile };
  const stateDir = localStateDir(loaded.config.state, loaded.configDir);
  const strategyDefault = loaded.config.strategies?.default;
  if (strategyDefault) resolveStrategy(loaded, strategyDefault);
  const store = await createStateStore(loaded.config.state, { configDir: loaded.configDir, clock, options });
  const provider = await createProvider(loaded, { service: loaded.config.service, configDir: loaded.configDir, stateDir, env: loaded.env, clock, events: io.bus, options });
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
    holder: currentHolder(process.argv.slice(2).join(' '), Date.now()),
    signal: io.signal,
    flags,
  });
  return {
    ...loaded,
    clock,
    store,
    provider,
    engine,
    stateDir,
    close: async () => {
      await provider.close?.().catch(() => undefined);
      await flags?.close?.().catch(() => undefined);
    },
  };
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
