import { ExitCode } from '../../../core/exit-codes.js';
import { lockWatchdog, type DeploymentRecord, type LockInfo } from '../../../core/state.js';
import { UNFINISHED } from '../../../engine/deployment-record.js';
import { finish } from '../../finish.js';
import type { CommandIO } from '../../run-cli-command.js';
import type { StatusReport } from './gather.js';
import { liveWeights } from './render.js';

// `zdd status`, judged: whether a deploy's process still runs it, and the command's result and exit code.

/** Does a live zdd process hold the lock of this deploy in progress (run it, or wait at its pause)? */
export function deployProcess(d: DeploymentRecord, lock: LockInfo | null): { alive: boolean; reason: string } {
  if (lock && lock.holder.deploymentId === d.id) {
    const h = lock.holder;
    // Fenced for a moment by the provider's watchdog while it acts: the deploy's own process is gone.
    const watchdog = lockWatchdog(h);
    if (watchdog) return { alive: false, reason: `${ranIt(d)} is gone: ${watchdog.name} (pid ${h.pid}) holds its lock while it ${watchdog.action}` };
    if (!lock.stale) return { alive: true, reason: `pid ${h.pid} on ${h.host}${h.command ? ` (\`zdd ${h.command}\`)` : ''} holds its lock` };
    return { alive: false, reason: `the process that ran it (pid ${h.pid} on ${h.host}${h.command ? `, \`zdd ${h.command}\`` : ''}) is gone: ${lock.staleReason ?? 'stale lock'}` };
  }
  if (lock && !lock.stale) return { alive: false, reason: `no process runs it: the lock is held by ${lock.holder.who}@${lock.holder.host} pid ${lock.holder.pid} for another run` };
  if (d.status === 'paused') return { alive: false, reason: 'no zdd process waits at it (stopped by --until-pause, or its process ended)' };
  return { alive: false, reason: `${ranIt(d)} is gone: no process holds its lock` };
}

function ranIt(d: DeploymentRecord): string {
  return `the process that ran it (pid ${d.by.pid} on ${d.by.host}${d.by.command ? `, \`zdd ${d.by.command}\`` : ''})`;
}

/** Exit 5 when the provider could not be read: what is printed is the record, not production. */
export function finishStatus(io: CommandIO, report: StatusReport): number {
  if ('error' in report.live) {
    return finish(io, {
      result: 'error',
      exitCode: ExitCode.ProviderBeforeChange,
      message: `Could not read production from the provider: ${report.live.error}. What is shown is the deployment record, not live traffic.`,
      hint: 'Check the provider (credentials, region, that the router or load balancer exists), then run `zdd status` again.',
    });
  }
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: 'status read; nothing was changed.' });
}

/**
 * `status --watch` ends with the result of the deploy it followed (or found ended): 0 succeeded, 1 rolled back, 4 when
 * it stopped failed or its process is gone while it runs (a person finishes it), 6 when it stands
 * at a pause with no process waiting (promote or abort continues it).
 */
export function finishWatch(io: CommandIO, report: StatusReport): number {
  const d: DeploymentRecord = report.deployment!;
  const what = `${d.kind === 'restore' ? 'Rollback' : 'Deploy'} ${d.id} of ${d.candidate.id}`;
  if (UNFINISHED.includes(d.status)) {
    // What the provider says about this deploy (a watchdog that acted for it names it).
    const notes = 'error' in report.live ? [] : (report.live.notes ?? []).filter((n) => n.includes(d.id));
    const live = 'error' in report.live ? '' : ` Live traffic: ${liveWeights(report.live)}.${notes.map((n) => ` ${n}.`).join('')}`;
    const reason = report.deployProcess?.reason ?? 'its process is gone';
    if (d.status === 'paused') {
      return finish(io, { result: 'paused', exitCode: ExitCode.Paused, message: `${what} stands at its pause and ${reason}.${live}`, hint: 'Run `zdd promote` to continue it or `zdd abort` to roll it back.' });
    }
    const step = d.inFlight ?? { index: d.stepIndex, phase: 'deploy' };
    return finish(io, {
      result: 'error',
      exitCode: ExitCode.NeedsPerson,
      message: `${what} stopped ${d.status === 'rolling-back' ? 'while rolling back' : `at step ${Math.min(step.index + 1, d.plan.length)}/${d.plan.length}`}: ${reason}.${live}`,
      hint: d.status === 'rolling-back' ? 'Run `zdd rollback` to finish the rollback.' : 'Run `zdd rollback` to put production back on stable, or `zdd promote` to continue the deploy from that step.',
    });
  }
  const ended = `${what} ended: ${d.status}${d.error ? ` (${d.error.message})` : ''}.`;
  if (d.status === 'succeeded') return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: ended });
  if (d.status === 'rolled-back') return finish(io, { result: 'rolled-back', exitCode: ExitCode.RolledBack, message: `${ended} Production is on stable ${d.stable?.id ?? ''}.`.replace(' .', '.') });
  return finish(io, { result: d.status === 'failed' ? 'failed' : 'rollback-failed', exitCode: ExitCode.NeedsPerson, message: ended, hint: 'Production needs a person: fix the cause, then `zdd rollback`.' });
}
