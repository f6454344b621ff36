import { ProviderError, errorMessage } from '../../core/errors.js';
import { createContext, loadCommandConfig, type CommandContext } from '../context.js';
import { withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import { openStateStore } from '../open-state-store.js';
import type { CommandIO } from '../run-cli-command.js';
import { readRecordOnly } from './status/gather.js';
import { finishStatus, finishWatch } from './status/judge.js';
import { printStatus } from './status/render.js';
import { watchStatus } from './status/watch.js';

/**
 * `zdd status [--watch]`: gather (status/gather.ts) what the provider, the state store and the flag
 * service say, judge it (status/judge.ts: is the deploy's process alive, which exit code), render it
 * (status/render.ts), and with --watch repeat until the deploy ends (status/watch.ts).
 */
export default async function statusCommand(flags: { watch?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  let ctx: CommandContext;
  try {
    ctx = await createContext(globals, io, loaded);
  } catch (e) {
    // No provider (credentials, a missing resource): the recorded state is still worth printing.
    if (!(e instanceof ProviderError)) throw e;
    const report = await readRecordOnly(await openStateStore(loaded, globals), loaded.config.service, String(loaded.config.provider.type), errorMessage(e));
    printStatus(io, report);
    return finishStatus(io, report);
  }
  return withContext(ctx, async (ctx) => {
    const report = await watchStatus(ctx, io, flags.watch === true);
    // A watch ends with the deploy's result, also when it ended before the watch began
    // (`deploy --detach` that rolled back at once): a script's `status --watch` learns it either way.
    if (flags.watch && report.deployment && !io.signal.aborted && !('error' in report.live)) return finishWatch(io, report);
    return finishStatus(io, report);
  });
}
