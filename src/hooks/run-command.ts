
export interface CommandResult {
  /** null when the process was killed by a signal or never started. */
  exitCode: number | null;
  signal?: string;
  timedOut: boolean;
  /** Set when the command could not start (not found, not executable). */
  spawnError?: string;
  stdoutTail: string[];
  stderrTail: string[];
  durationMs: number;
}

export interface RunCommandOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Lines of each stream kept for messages (default 20). */
  tailLines?: number;
  /** Time between SIGTERM and SIGKILL of the process group (default 2s). */
  killGraceMs?: number;
  /** Called once the command runs, with its process group id, before its result is awaited; a throw ends the command. */
  onSpawn?: (pgid: number) => void | Promise<void>;
}

/** Process groups of the commands running now, so that a hard exit can end them (never left unsupervised). */
const running = new Set<number>();

/** SIGKILL every command group still running (zdd is about to exit without waiting for them). */
export function killRunningCommands(): number[] {
  const ended = [...running];
  for (const pgid of ended) signalGroup(pgid, 'SIGKILL');
  running.clear();
  return ended;
}

/**
 * Runs a hook or smoke command. A string runs through the shell; an array runs without one.
 * The command leads its own process group, so a timeout or an abort kills the whole tree
 * (SIGTERM, then SIGKILL after a grace period), not just the shell.
 */
export async function runCommand(run: string | string[], opts: RunCommandOptions): Promise<CommandResult> {
  const started = Date.now();
  const tailLines = opts.tailLines ?? 20;
  const stdout = new LineTail(tailLines);
  const stderr = new LineTail(tailLines);
  const [file, args, shell] = typeof run === 'string' ? [run, [] as string[], true] : [run[0], run.slice(1), false];

  // Loaded here, not at the top: execa is ~260 modules, and most commands (status, rollback
  // without hooks) never start one.
  const { execa } = await import('execa');
  const child = execa(file, args, {
    shell,
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    detached: true,
    reject: false,
    buffer: false,
    stdin: 'ignore',
  });
  child.stdout?.on('data', (d: Buffer) => stdout.push(d));
  child.stderr?.on('data', (d: Buffer) => stderr.push(d));

  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const killTree = () => {
    if (child.pid === undefined) return;
    signalGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), opts.killGraceMs ?? 2000);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killTree();
  }, opts.timeoutMs);
  const onAbort = () => killTree();
  if (opts.signal?.aborted) killTree();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (child.pid !== undefined) running.add(child.pid);

  try {
    if (child.pid !== undefined && opts.onSpawn) {
      try {
        await opts.onSpawn(child.pid);
      } catch (e) {
        signalGroup(child.pid, 'SIGKILL');
        await child.catch(() => undefined);
        throw e;
      }
    }
    const result = await child;
    // The shell may be gone while its children live on: make sure the group is gone too.
    if (child.pid !== undefined && (timedOut || opts.signal?.aborted)) signalGroup(child.pid, 'SIGKILL');
    const spawnError = result.failed && result.exitCode === undefined && !result.signal ? result.originalMessage || result.shortMessage : undefined;
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? undefined,
      timedOut,
      spawnError,
      stdoutTail: stdout.lines(),
      stderrTail: stderr.lines(),
      durationMs: Date.now() - started,
    };
  } finally {
    if (child.pid !== undefined) running.delete(child.pid);
    clearTimeout(timer);
    if (killTimer) clearTimeout(killTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Keeps the last N lines of a stream without holding the whole output. */
class LineTail {
  private buf: string[] = [];
  private partial = '';
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.buf.push(p);
    if (this.buf.length > this.max) this.buf.splice(0, this.buf.length - this.max);
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
  }
  lines(): string[] {
    const all = this.partial ? [...this.buf, this.partial] : [...this.buf];
    return all.slice(-this.max);
  }
}
