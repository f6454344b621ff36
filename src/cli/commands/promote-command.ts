import { createContext } from '../context.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function promoteCommand(flags: { untilPause?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.promote({ stopAtPause: !!flags.untilPause })));
}
