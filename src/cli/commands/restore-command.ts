import { createContext } from '../context.js';
import { durationFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/** `zdd restore [--dry-run]`: the router back to the weights the last finished deploy wrote. */
export default async function restoreCommand(flags: { dryRun?: boolean; lockWait?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.restoreWritten({ dryRun: flags.dryRun, lockWaitMs })));
}
