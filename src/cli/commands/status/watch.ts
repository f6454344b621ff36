import { isUnfinished } from '../../../engine/deployment-record.js';
import type { CommandContext } from '../../context.js';
import type { CommandIO } from '../../run-cli-command.js';
import { readStatus, type StatusReport } from './gather.js';
import { printStatus } from './render.js';

/**
 * `zdd status --watch`: read and print once a second while the deploy is unfinished and a process
 * still moves it on; returns the last report (its end is judged by judge.ts's finishWatch).
 */
export async function watchStatus(ctx: CommandContext, io: CommandIO, watch: boolean): Promise<StatusReport> {
  for (;;) {
    const report = await readStatus(ctx);
    printStatus(io, report);
    if (!watch || !isUnfinished(report.deployment) || io.signal.aborted) return report;
    // Nothing will move it on: a watch must not wait forever for a deploy whose process is gone.
    if (report.deployProcess && !report.deployProcess.alive) return report;
    await new Promise((r) => setTimeout(r, 1000));
    if (io.signal.aborted) return report;
    if (!io.output.json) io.output.human('\n');
  }
}
