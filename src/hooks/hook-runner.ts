import type { HookConfig, ZddConfig } from '../config/schema.js';
import { HookFailedError } from '../core/errors.js';
import { formatDuration } from '../core/plan.js';
import type { EventSink } from '../core/events.js';
import type { HookPoint } from '../core/plan.js';
import { runCommand } from './run-command.js';

export const DEFAULT_HOOK_TIMEOUT_MS = 5 * 60_000;

/** The hooks configured at a point, as a list (config allows one or many). */
export function hooksAt(config: ZddConfig, point: HookPoint): HookConfig[] {
  const h = config.hooks?.[point];
  if (h === undefined) return [];
  return Array.isArray(h) ? h : [h];
}

/** Hook points with at least one hook (strategies plan hook steps only for these). */
export function configuredHookPoints(config: ZddConfig): HookPoint[] {
  return (Object.keys(config.hooks ?? {}) as HookPoint[]).filter((p) => hooksAt(config, p).length > 0);
}

/**
 * Runs every hook at a point, in order. A failing, timing-out or unstartable hook throws
 * HookFailedError naming the hook, its exit code and its last lines of stderr — unless the hook
 * says continueOnError, then it warns.
 */
export async function runHooks(
  point: HookPoint,
  config: ZddConfig,
  opts: {
    cwd: string;
    env: Record<string, string>;
    signal: AbortSignal;
    events: EventSink;
    /** A command hook started, as the process group it leads (the engine records it). */
    onSpawn?: (hook: string, pgid: number) => void | Promise<void>;
  },
): Promise<void> {
  const hooks = hooksAt(config, point);
  for (const [i, hook] of hooks.entries()) {
    const label = hooks.length > 1 ? `${point}[${i}]` : point;
    const env = { ...opts.env, ZDD_HOOK: point };
    opts.events.emit({ type: 'hook', hook: label, status: 'start' });
    const started = Date.now();
    try {
      if (typeof hook === 'function') {
        await runFunctionHook(hook, label, env, opts.signal);
      } else {
        const spec = typeof hook === 'string' ? { run: hook } : hook;
        const timeoutMs = (typeof hook === 'object' && hook.timeout) || DEFAULT_HOOK_TIMEOUT_MS;
        const r = await runCommand(spec.run, {
          cwd: opts.cwd,
          env: { ...env, ...(typeof hook === 'object' ? hook.env : {}) },
          timeoutMs,
          signal: opts.signal,
          onSpawn: opts.onSpawn ? (pgid) => opts.onSpawn!(label, pgid) : undefined,
        });
        if (opts.signal.aborted) throw opts.signal.reason;
        const cmd = Array.isArray(spec.run) ? spec.run.join(' ') : spec.run;
        const tail = r.stderrTail.filter(Boolean).slice(-5);
        const tailText = tail.length ? `\n  last stderr lines:\n${tail.map((l) => `    ${l}`).join('\n')}` : '';
        if (r.spawnError) throw new HookFailedError(`Hook ${label} (\`${cmd}\`) could not start: ${r.spawnError}`, 'Check the command exists and is executable.');
        if (r.timedOut) {
          throw new HookFailedError(`Hook ${label} (\`${cmd}\`) timed out after ${formatDuration(timeoutMs)}; its process tree was killed${tailText}`, `Raise hooks.${point}.timeout or make the hook faster.`);
        }
        if (r.exitCode !== 0) {
          const how = r.exitCode === null ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
          throw new HookFailedError(`Hook ${label} (\`${cmd}\`) ${how}${tailText}`);
        }
      }
      opts.events.emit({ type: 'hook', hook: label, status: 'ok', durationMs: Date.now() - started });
    } catch (e) {
      if (opts.signal.aborted) throw opts.signal.reason;
      const message = e instanceof Error ? e.message : String(e);
      opts.events.emit({ type: 'hook', hook: label, status: 'failed', durationMs: Date.now() - started, message });
      if (typeof hook === 'object' && !Array.isArray(hook) && hook.continueOnError) {
        opts.events.emit({ type: 'warn', message: `${message} (continueOnError: deploy goes on)` });
        continue;
      }
      throw e instanceof HookFailedError ? e : new HookFailedError(`Hook ${label} failed: ${message}`);
    }
  }
}

async function runFunctionHook(hook: (ctx: { env: Record<string, string>; signal: AbortSignal }) => unknown, label: string, env: Record<string, string>, signal: AbortSignal): Promise<void> {
  const timeoutMs = DEFAULT_HOOK_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HookFailedError(`Hook ${label} (function) did not finish within ${formatDuration(timeoutMs)}`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([Promise.resolve(hook({ env, signal })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
