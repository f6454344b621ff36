import { readFileSync } from 'node:fs';

/**
 * Facts about a process from Linux's /proc/<pid>/stat, for telling a live process from a dead,
 * reaped-late (zombie) or reused pid. Undefined when unknown: not Linux, or the process is gone.
 */

/** The fields after the command name: [0] is the state letter, [19] the start time. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The state letter: R, S, D, Z (zombie: exited, not yet reaped by its parent) … */
export function processState(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** When the process started, in clock ticks since boot: a recorded pid with another start time was reused. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}
