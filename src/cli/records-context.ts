import type { StateStore } from '../core/state.js';
import { loadCommandConfig } from './command-start.js';
import type { GlobalOptions } from './main.js';
import { openStateStore } from './open-state-store.js';
import type { CommandIO } from './run-cli-command.js';

/** Config and state store only: for commands that read records and never touch the provider. */
export async function openRecords(globals: GlobalOptions, io: CommandIO): Promise<{ service: string; store: StateStore }> {
  const loaded = await loadCommandConfig(globals, io);
  return { service: loaded.config.service, store: await openStateStore(loaded, globals) };
}
