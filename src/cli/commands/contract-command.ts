import { createContext } from '../context.js';
import { durationFlag, migrationAnswerFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/** `zdd contract`: run the last release's pending contract migration (docs/migrations.md). */
export default async function contractCommand(flags: { lockWait?: string; migrationRan?: boolean; migrationNotRun?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  const migrationAnswer = migrationAnswerFlag(flags);
  return withContext(await createContext(globals, io), async (ctx) => finish(io, await ctx.engine.contract({ lockWaitMs, migrationAnswer })));
}
