import type { DeploymentRecord } from '../core/state.js';
import { processStartTime } from '../core/proc-stat.js';
import { stopGroup } from '../core/process-group.js';

type HookProcess = NonNullable<DeploymentRecord['hookProcess']>;

/** Time a left-over hook gets between SIGTERM and SIGKILL. */
const END_GRACE_MS = 2_000;

/** What the record keeps of a running command hook: enough to end its process group from another zdd. */
export function hookProcess(hook: string, pgid: number, host: string, now: string): HookProcess {
  return { hook, pgid, host, startTime: processStartTime(pgid), startedAt: now };
}

/**
 * End a hook a killed zdd left running (its whole process group). A group on another host cannot
 * be reached from here: `elsewhere`. A pid since reused by another process is never signalled.
 */
export async function endHookProcess(hp: HookProcess, host: string): Promise<'gone' | 'terminated' | 'killed' | 'elsewhere'> {
  if (hp.host !== host) return 'elsewhere';
  return stopGroup(hp.pgid, END_GRACE_MS, hp.startTime);
}
