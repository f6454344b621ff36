import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { processStartTime } from '../../core/proc-stat.js';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** What happened to a process this CLI started, while it watched. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process never started (argv command not found, not executable). */
  spawnError?: string;
}

export interface StartedProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves when the process exits (while this CLI lives). */
  exited: Promise<ExitInfo>;
}

/**
 * Start a detached process leading its own process group, output appended to `logFile`, so it
 * outlives the CLI and can be stopped as a whole tree.
 */
export async function startDetached(command: string | string[], opts: { cwd: string; env: Record<string, string>; logFile: string }): Promise<StartedProcess> {
  const log = await open(opts.logFile, 'a', 0o600);
  try {
    const [file, args, shell] = typeof command === 'string' ? [command, [] as string[], true] : [command[0], command.slice(1), false];
    const child = spawn(file, args, { shell, cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', log.fd, log.fd] });
    const exited = new Promise<ExitInfo>((resolveExit) => {
      child.once('error', (e) => resolveExit({ code: null, signal: null, spawnError: e.message }));
      child.once('exit', (code, signal) => resolveExit({ code, signal }));
    });
    if (child.pid === undefined) {
      const info = await exited;
      throw new Error(info.spawnError ?? 'process did not start');
    }
    child.unref();
    return { pid: child.pid, child, exited };
  } finally {
    await log.close();
  }
}

/** Re-exported for the router and the platform, which record and stop the processes they start (the code lives in core: hooks use it too). */
export { processStartTime };
export { isAlive, stopGroup } from '../../core/process-group.js';

/** A port free on `host` right now (the OS picks it). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Whether something already listens on host:port. */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolveUse, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolveUse(true) : reject(e)));
    srv.listen(port, host, () => srv.close(() => resolveUse(false)));
  });
}

/** The last `n` lines of a file ('' when missing). */
export async function tailFile(path: string, n: number): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1).slice(-n).join('\n');
  } catch {
    return '';
  }
}

const SHELL_WORDS = new Set(['cd', 'exec', '.', 'source', 'set', 'export', 'eval', 'true', 'false', 'test', '[', 'echo', 'printf', 'command', 'if', 'for', 'while', 'case', '(', '{', 'trap', 'ulimit', 'umask', 'exit']);

/**
 * The program a command starts, when it can be known without running it: argv[0], or the first
 * word of a simple shell command (after VAR=value assignments). undefined when it is shell syntax.
 */
export function programOf(command: string | string[]): string | undefined {
  if (Array.isArray(command)) return command[0];
  const words = command.trim().split(/\s+/);
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++;
  const w = words[i];
  if (!w || SHELL_WORDS.has(w) || !/^[A-Za-z0-9_./+@-]+$/.test(w)) return undefined;
  return w;
}

/** Resolve a program like the shell would (PATH search unless it has a slash). undefined when not found or not executable. */
export async function findProgram(program: string, cwd: string, pathVar: string | undefined): Promise<string | undefined> {
  const candidates = program.includes('/') ? [isAbsolute(program) ? program : resolve(cwd, program)] : (pathVar ?? '').split(delimiter).filter(Boolean).map((d) => join(d, program));
  for (const c of candidates) {
    try {
      const s = await stat(c);
      if (!s.isFile()) continue;
      await access(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** A host as it goes into a URL: IPv6 addresses in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
