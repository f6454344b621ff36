import { finish, withContext } from '../finish.js';
import { loadCommandConfig } from '../command-start.js';
import { askLiveDeployEarly } from '../incident-path.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function abortCommand(_flags: unknown, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  const asked = await askLiveDeployEarly(loaded);
  const { createContext } = await import('../context.js');
  return withContext(await createContext(globals, io, loaded), async (ctx) => finish(io, await ctx.engine.rollback({ abortOnly: true, lockWaitMs: 0, asked })));
}
