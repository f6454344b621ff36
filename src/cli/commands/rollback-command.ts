import { durationFlag, migrationAnswerFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import { loadCommandConfig } from '../command-start.js';
import { askLiveDeployEarly } from '../incident-path.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/** `zdd rollback [--to <revision>]`: abort an unfinished deploy, or restore the previous (or the named) revision. */
export default async function rollbackCommand(flags: { lockWait?: string; to?: string; force?: boolean; migrationRan?: boolean; migrationNotRun?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  const migrationAnswer = migrationAnswerFlag(flags);
  const loaded = await loadCommandConfig(globals, io);
  // With --to a live deploy is refused, not aborted: the engine says so.
  const asked = flags.to === undefined ? await askLiveDeployEarly(loaded) : undefined;
  const { createContext } = await import('../context.js');
  return withContext(await createContext(globals, io, loaded), async (ctx) => finish(io, await ctx.engine.rollback({ abortOnly: false, lockWaitMs, to: flags.to, asked, force: !!flags.force, migrationAnswer })));
}
