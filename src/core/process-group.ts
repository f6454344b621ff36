import { readdirSync, readFileSync } from 'node:fs';
import { processStartTime, processState } from './proc-stat.js';

/**
 * Liveness and stopping of process groups zdd started (revisions, the local router, hooks): one
 * home, so that hooks and providers share it without one importing the other.
 */

/**
 * Whether a process (or, with a negative pid, any process of that group) is running. A zombie
 * counts as gone: an init that reaps late (containers, micro-VMs) must not stretch every stop.
 */
export function isAlive(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  if (pid > 0 && isReused(pid, startTime)) return false;
  return pid > 0 ? processState(pid) !== 'Z' : groupHasLiveMember(-pid);
}


/** The pid now belongs to another process than the one recorded (after a reboot, say). */
function isReused(pid: number, startTime: string | undefined): boolean {
  if (!startTime) return false;
  const now = processStartTime(pid);
  return now !== undefined && now !== startTime;
}


function groupHasLiveMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] = state, fields[2] = process group
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // process went away while we looked
    }
  }
  return false;
}

/** SIGTERM the process group led by `pid`, SIGKILL it after `graceMs` if anything is left. Real time: this is about real processes. */
export async function stopGroup(pid: number, graceMs: number, startTime?: string): Promise<'gone' | 'terminated' | 'killed'> {
  // A pid taken by another process means the recorded group is long gone: never signal a stranger.
  if (isReused(pid, startTime)) return 'gone';
  if (!isAlive(-pid) && !isAlive(pid)) return 'gone';
  signal(-pid, 'SIGTERM');
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(-pid) && !isAlive(pid)) return 'terminated';
    await new Promise((r) => setTimeout(r, 10));
  }
  signal(-pid, 'SIGKILL');
  signal(pid, 'SIGKILL');
  return 'killed';
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
