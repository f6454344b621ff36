import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { renderHistory, toRelease } from '../../report/release-history.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import { openRecords } from '../records-context.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function historyCommand(flags: { limit?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const limit = Number(flags.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number of releases, got "${flags.limit}"`, 'For example `zdd history --limit 50`.');
  const { service, store } = await openRecords(globals, io);
  const releases = (await store.records.history(service, limit)).map(toRelease);
  if (io.output.json) io.output.data({ type: 'history', service, releases });
  else io.output.human(renderHistory(service, releases));
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `${releases.length} release${releases.length === 1 ? '' : 's'} of ${service} listed; nothing was changed.` });
}
