import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ExitCode, type ExitCodeValue } from '../core/exit-codes.js';
import { ZddError } from '../core/errors.js';
import type { DoneResult } from '../core/events.js';

/** How long `--detach` waits for the background deploy to be underway before handing it over anyway. */
export const DETACH_WAIT_MS = 120_000;

export interface DetachResult {
  result: DoneResult;
  exitCode: ExitCodeValue;
  message: string;
  hint?: string;
}

/**
 * `zdd deploy --detach`: run the same deploy in a background process (its own session, so the
 * terminal's Ctrl-C and a closed SSH session do not reach it), logging to a file, and return once
 * it is underway (its record and lock exist: `zdd status --watch`, `promote`, `abort` follow it),
 * or with its own result if it ended before that (a config error, a held lock).
 */
export async function detachDeploy(argv: string[], opts: { cwd: string; log?: string; /** The local state folder: logs go to its logs/ (0700, files 0600) as the records do. */ stateDir: string; now: number; signal: AbortSignal }): Promise<DetachResult> {
  const stamp = new Date(opts.now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const log = resolve(opts.cwd, opts.log ?? join(opts.stateDir, 'logs', `deploy-${stamp}.log`));
  let fd: number;
  try {
    // The log holds what the deploy prints (revisions, hosts, hook output): no wider than the state folder.
    mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
    fd = openSync(log, 'a', 0o600);
  } catch (e) {
    // Nothing started yet: a log that cannot be written is bad input, not a failed deploy.
    throw new ZddError('detach-log', `Cannot write the --detach log ${log}: ${(e as Error).message}. Nothing was started.`, {
      exitCode: ExitCode.Usage,
      hint: 'Pass --log with a file in a writable directory, or leave it out (default logs/ in the state folder, .zdd/logs/ next to the config unless state.dir says otherwise).',
    });
  }
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--log') i++;
    else if (argv[i] !== '--detach' && argv[i] !== '--json' && !argv[i].startsWith('--log=')) args.push(argv[i]);
  }
  let pid: number | undefined;
  try {
    // --log stays on its command line (without --detach it changes nothing): the lock holder's
    // command, shown by `zdd status` and the router's dead-man's switch, then names the log.
    const child = spawn(process.execPath, [process.argv[1], ...args, '--log', log, '--json'], {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new ZddError('detach', `Could not start the background deploy (see ${log})`, { exitCode: ExitCode.Usage });

  const deadline = Date.now() + DETACH_WAIT_MS;
  while (Date.now() < deadline && !opts.signal.aborted) {
    const events = readEvents(log);
    const done = events.find((e) => e.type === 'done');
    if (done) return { result: done.result, exitCode: done.exitCode, message: `${done.message} (background deploy pid ${pid} ended; log ${log})`, hint: done.hint };
    const start = events.find((e) => e.type === 'deploy.start');
    if (start) {
      return {
        result: 'detached',
        exitCode: ExitCode.Ok,
        message: `Deploy ${start.deploymentId} of ${start.candidate.id} goes on in the background (pid ${pid}); log ${log}`,
        hint: 'Follow it with `zdd status --watch`; `zdd promote` continues a pause, `zdd abort` rolls it back (from any machine sharing the state).',
      };
    }
    if (!isAlive(pid)) {
      return { result: 'error', exitCode: ExitCode.NeedsPerson, message: `The background deploy (pid ${pid}) ended without a result; see ${log}`, hint: 'Run `zdd status` to see the state of production.' };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { result: 'detached', exitCode: ExitCode.Ok, message: `The background deploy (pid ${pid}) is still starting; log ${log}`, hint: 'Follow it with `zdd status --watch`.' };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The NDJSON events in the log (human lines in between are skipped). */
function readEvents(path: string): any[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: any[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line still being written
    }
  }
  return out;
}
