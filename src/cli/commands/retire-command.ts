import { createContext } from '../context.js';
import { durationFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function retireCommand(flags: { now?: boolean; lockWait?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.retireDue({ now: flags.now, lockWaitMs })));
}
