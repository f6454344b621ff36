import { hostname, userInfo } from 'node:os';
import type { LockHolderInfo } from '../core/errors.js';

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

/** Is the holder's process gone? Only answerable on the same host; elsewhere the lease decides. */
export function holderIsDead(holder: LockHolderInfo, host: string = hostname()): boolean {
  if (holder.host !== host) return false;
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
