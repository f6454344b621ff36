import { ZddError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { DeploymentRecord } from '../core/state.js';
import { endHookProcess } from '../hooks/hook-process.js';
import type { EngineDeps } from './engine-deps.js';
import type { StepRunner } from './step-runner.js';

/**
 * A hook the killed process left running is ended before anything else happens, so that no
 * hook runs twice at once. One on another host cannot be ended from here: a resume (which would
 * run it again) stops; a rollback goes on (the way back to stable is never blocked) and warns.
 */
export async function endLeftoverHook(deps: EngineDeps, runner: StepRunner, record: DeploymentRecord, why: 'resume' | 'rollback'): Promise<void> {
  const hp = record.hookProcess;
  if (!hp) return;
  const ended = await endHookProcess(hp, deps.holder.host);
  const what = `hook ${hp.hook} (process group ${hp.pgid} on ${hp.host}, started ${hp.startedAt})`;
  if (ended === 'elsewhere') {
    if (why === 'resume') {
      throw new ZddError('hook-elsewhere', `The ${what} may still be running; zdd cannot end it from ${deps.holder.host}, and will not run it twice at once. Nothing was changed.`, {
        exitCode: ExitCode.NeedsPerson,
        hint: `End process group ${hp.pgid} on ${hp.host} (kill -TERM -${hp.pgid}), then run \`zdd promote\` again; or \`zdd rollback\`.`,
      });
    }
    deps.events.emit({ type: 'warn', message: `The ${what} may still be running there; end it (kill -TERM -${hp.pgid} on ${hp.host}). The rollback goes on.` });
  } else {
    deps.events.emit({ type: ended === 'gone' ? 'info' : 'warn', message: ended === 'gone' ? `The ${what} left by the killed zdd has already ended` : `Ended the ${what}, left running by the killed zdd` });
  }
  record.hookProcess = undefined;
  await runner.save(record);
}
