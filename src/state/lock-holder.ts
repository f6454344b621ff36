import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { LockHolderInfo } from '../core/errors.js';
import { processStartTime, processState } from '../core/proc-stat.js';

/** Who is running this command: user, host, pid and, in CI, the run's URL. */
export function currentHolder(command: string, now: number, env: NodeJS.ProcessEnv = process.env): LockHolderInfo {
  let who = env.USER || env.LOGNAME || '';
  if (!who) {
    try {
      who = userInfo().username;
    } catch {
      who = 'unknown';
    }
  }
  return {
    who: env.GITHUB_ACTOR ? `${env.GITHUB_ACTOR} (via ${who})` : who,
    host: hostname(),
    pid: process.pid,
    since: new Date(now).toISOString(),
    command,
    ciRunUrl: ciRunUrl(env),
  };
}

export function ciRunUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) {
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  }
  return env.CI_JOB_URL || env.BUILDKITE_BUILD_URL || env.CIRCLE_BUILD_URL || env.BUILD_URL || undefined;
}

/**
 * Where a pid names one process, stored with a lock so that only a process that shares the
 * holder's pid table judges whether the holder is alive. Host names repeat (CI containers, cloned
 * VMs) and pids repeat across containers, so on Linux the scope is the kernel's boot id plus the
 * pid namespace; `start` (clock ticks since boot, from /proc) tells a reused pid from the holder.
 */
export interface HolderProcess {
  scope: string;
  start?: string;
}

let ownScope: string | undefined;

/** This process's pid scope: `linux:<boot id>:<pid namespace>`, or the host name where there is no /proc. */
export function pidScope(): string {
  if (ownScope) return ownScope;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = readlinkSync('/proc/self/ns/pid');
    ownScope = `linux:${boot}:${ns}`;
  } catch {
    ownScope = `${process.platform}:${hostname()}`;
  }
  return ownScope;
}


/** The pid scope to store with a lock taken for `holder`: only when the holder is this very process. */
export function holderProcess(holder: LockHolderInfo): HolderProcess | undefined {
  if (holder.pid !== process.pid || holder.host !== hostname()) return undefined;
  return { scope: pidScope(), start: processStartTime(process.pid) };
}

/**
 * Is the holder's process gone? Only answerable from inside the holder's pid scope (same kernel
 * boot, same pid namespace); anywhere else, or for a lock stored without a scope, the lease decides.
 * A live pid that started at another time than the holder is a reused pid: the holder is gone.
 */
export function holderIsDead(holder: LockHolderInfo, proc: HolderProcess | undefined): boolean {
  if (!proc || holder.host !== hostname() || proc.scope !== pidScope()) return false;
  if (holder.pid === process.pid) return proc.start !== undefined && proc.start !== processStartTime(process.pid);
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  // A zombie is dead: killed -9, its pid stays taken until its parent reaps it, which a detached
  // deploy's parent (init, or a container's PID 1 that never reaps) may do late or never.
  if (processState(holder.pid) === 'Z') return true;
  const start = processStartTime(holder.pid);
  return proc.start !== undefined && start !== undefined && start !== proc.start;
}


/** Tokens of the locks this process holds now: "ours" is decided by token, never by pid. */
const ownTokens = new Set<string>();

/** A fresh random lock token, remembered as held by this process until `forgetToken`. */
export function newLockToken(): string {
  const token = randomBytes(16).toString('hex');
  ownTokens.add(token);
  return token;
}

export function forgetToken(token: string): void {
  ownTokens.delete(token);
}

/** Does this process hold the lock that carries `token`? */
export function holdsToken(token: string | undefined): boolean {
  return token !== undefined && ownTokens.has(token);
}
