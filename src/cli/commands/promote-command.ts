import { createContext } from '../context.js';
import { migrationAnswerFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function promoteCommand(flags: { untilPause?: boolean; migrationRan?: boolean; migrationNotRun?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const migrationAnswer = migrationAnswerFlag(flags);
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.promote({ stopAtPause: !!flags.untilPause, migrationAnswer })));
}
