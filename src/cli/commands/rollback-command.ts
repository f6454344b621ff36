import { createContext } from '../context.js';
import { durationFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/** `zdd rollback [--to <revision>]`: abort an unfinished deploy, or restore the previous (or the named) revision. */
export default async function rollbackCommand(flags: { lockWait?: string; to?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.rollback({ abortOnly: false, lockWaitMs, to: flags.to })));
}
