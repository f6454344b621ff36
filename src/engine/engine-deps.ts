import type { ZddConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { LockHolderInfo } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type { Provider } from '../core/provider.js';
import type { StateStore } from '../core/state.js';
import type { Strategy } from '../core/strategy.js';

export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
export const DEFAULT_DRAIN_MS = 5_000;

/** Everything the engine acts through; injected, so tests wire a fake provider, store and clock. */
export interface EngineDeps {
  config: ZddConfig;
  configDir: string;
  env?: string;
  provider: Provider;
  store: StateStore;
  clock: Clock;
  events: EventSink;
  /** Resolves a strategy by name (built-ins, config plugins, and the names records carry). */
  strategy(name: string): Strategy;
  /** The planner of `zdd rollback` after a finished deploy: put a previous revision back on 100%. */
  restoreStrategy: Strategy;
  /** Who runs this command (lock holder). */
  holder: LockHolderInfo;
  /** Aborted on SIGINT/SIGTERM with an InterruptedError as reason. */
  signal: AbortSignal;
  /** Real-time interval of the lock heartbeat (default 15s; tests shorten it). */
  heartbeatMs?: number;
}

export function drainMs(deps: EngineDeps): number {
  return deps.config.drain ?? DEFAULT_DRAIN_MS;
}

export function healthTimeoutMs(deps: EngineDeps): number {
  return deps.config.health?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS;
}

export function nowIso(deps: Pick<EngineDeps, 'clock'>): string {
  return new Date(deps.clock.now()).toISOString();
}
