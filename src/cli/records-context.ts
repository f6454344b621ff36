import type { StateStore } from '../core/state.js';
import { createStateStore } from '../state/create-state-store.js';
import { providerFlags } from '../providers/provider-manifest.js';
import { commandClock, loadCommandConfig, stateStoreOptions } from './context.js';
import type { GlobalOptions } from './main.js';
import type { CommandIO } from './run-cli-command.js';

/** Config and state store only: for commands that read records and never touch the provider. */
export async function openRecords(globals: GlobalOptions, io: CommandIO): Promise<{ service: string; store: StateStore }> {
  const loaded = await loadCommandConfig(globals, io);
  const store = await createStateStore(loaded.config.state, { configDir: loaded.configDir, clock: commandClock(), options: stateStoreOptions(loaded, providerFlags(String(loaded.config.provider.type), globals as Record<string, unknown>)) });
  return { service: loaded.config.service, store };
}
