import type { LoadedConfig } from '../config/load-config.js';
import type { StateStore } from '../core/state.js';
import { providerFlags } from '../providers/provider-manifest.js';
import { createStateStore } from '../state/create-state-store.js';

/**
 * The one way a command opens the config's state store: every command hands it the same things
 * (the config's provider block and the provider's flags as given), and the state layer decides
 * what a remote store borrows from them (src/state/create-state-store.ts). Loads no engine and no provider.
 */
export async function openStateStore(loaded: LoadedConfig, globals: object): Promise<StateStore> {
  const provider = loaded.config.provider as { type: string } & Record<string, unknown>;
  return createStateStore(loaded.config.state, { configDir: loaded.configDir, provider, flags: providerFlags(String(provider.type), globals as Record<string, unknown>) });
}
