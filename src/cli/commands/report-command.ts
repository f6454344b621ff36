import { ExitCode } from '../../core/exit-codes.js';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError, errorMessage } from '../../core/errors.js';
import { buildReport } from '../../report/deploy-report.js';
import { renderReportMarkdown } from '../../report/render-report.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import { openRecords } from '../records-context.js';
import type { CommandIO } from '../run-cli-command.js';

/** How far back `zdd report <id>` looks for the id (or a unique prefix of it). */
const SEARCH_LIMIT = 500;

export default async function reportCommand(flags: { args?: string[]; output?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const wanted = flags.args?.[0];
  const { service, store } = await openRecords(globals, io);
  let record;
  if (!wanted) {
    record = await store.records.latest(service);
    if (!record) throw new UsageError(`No deploys of ${service} recorded yet: nothing to report`, 'Run `zdd deploy` first; `zdd history` lists recorded deploys.');
  } else {
    const matches = (await store.records.history(service, SEARCH_LIMIT)).filter((r) => r.id === wanted || r.id.startsWith(wanted));
    const exact = matches.find((r) => r.id === wanted);
    if (!exact && matches.length > 1) throw new UsageError(`"${wanted}" matches ${matches.length} deploys of ${service}: ${matches.slice(0, 5).map((r) => r.id).join(', ')}`, 'Give more of the id (`zdd history` lists them).');
    record = exact ?? matches[0];
    if (!record) throw new UsageError(`No deploy "${wanted}" of ${service} among the last ${SEARCH_LIMIT} records in ${store.location}`, 'Run `zdd history` to list deploy ids.');
  }
  const report = buildReport(record);
  if (flags.output) {
    const path = resolve(flags.output);
    try {
      await writeFile(path, io.output.json ? `${JSON.stringify(report, null, 2)}\n` : renderReportMarkdown(report));
    } catch (e) {
      throw new UsageError(`Could not write the report to ${path}: ${errorMessage(e)}`, 'Check that the directory exists and is writable.');
    }
  } else if (io.output.json) io.output.data(report);
  else io.output.human(renderReportMarkdown(report));
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `Report of deploy ${record.id}${flags.output ? ` written to ${flags.output}` : ''}; nothing was changed.` });
}
