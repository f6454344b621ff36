import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { currentHolder } from '../../state/lock-holder.js';
import { createContext } from '../context.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function downCommand(_flags: unknown, globals: GlobalOptions, io: CommandIO): Promise<number> {
  return withContext(await createContext(globals, io), async (ctx) => {
    if (!ctx.provider.down) throw new UsageError(`Provider "${ctx.provider.name}" has no \`down\`: it does not own the infrastructure it deploys to`);
    const holder = currentHolder('down', Date.now());
    const lease = await ctx.store.lock.acquire(ctx.config.service, holder, { waitMs: 0 });
    try {
      await ctx.provider.down();
      // Stopped on purpose: the next deploy and `zdd status` must not take "nothing serves" for drift.
      const last = await ctx.store.records.latest(ctx.config.service);
      // Only a finished record: an unfinished one (a deploy that died) stays as it is for `zdd rollback`.
      if (last && !last.down && last.finishedAt) await ctx.store.records.save({ ...last, down: { at: new Date(ctx.clock.now()).toISOString(), by: holder } });
    } finally {
      await lease.release();
    }
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `Stopped everything the ${ctx.provider.name} provider started for ${ctx.config.service}.` });
  });
}
