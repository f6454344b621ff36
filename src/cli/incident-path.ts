import type { LoadedConfig } from '../config/load-config.js';
import { askLiveDeployToAbort, type AbortAsked } from '../engine/live-abort.js';
import { commandClock } from './command-start.js';
import { openStateStore } from './open-state-store.js';

/**
 * `zdd rollback` / `zdd abort` during a deploy another process runs: ask it to abort as soon as the
 * config is read, before the engine, the provider and the notifiers load (the bulk of a command's
 * start), so that it switches traffic back while this command is still starting. File store only:
 * a remote store's deploy hears requests at its next poll anyway, and its SDK must load either way.
 */
export async function askLiveDeployEarly(loaded: LoadedConfig): Promise<AbortAsked | undefined> {
  const state = loaded.config.state;
  if (state && state.type !== 'file') return undefined;
  const store = await openStateStore(loaded, {});
  return askLiveDeployToAbort(store, loaded.config.service, commandClock());
}
