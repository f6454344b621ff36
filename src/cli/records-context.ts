import type { StateStore } from '../core/state.js';
import { createStateStore } from '../state/create-state-store.js';
import { commandClock, loadCommandConfig } from './context.js';
import type { GlobalOptions } from './main.js';

/** Config and state store only: for commands that read records and never touch the provider. */
export async function openRecords(globals: GlobalOptions): Promise<{ service: string; store: StateStore }> {
  const loaded = await loadCommandConfig(globals);
  const store = await createStateStore(loaded.config.state, { configDir: loaded.configDir, clock: commandClock(), options: { region: globals.region, profile: globals.profile } });
  return { service: loaded.config.service, store };
}
