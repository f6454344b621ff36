import type { Outcome } from '../engine/engine.js';
import type { CommandIO } from './run-cli-command.js';

/** Every command ends with exactly one `done` event; its exit code is the process's. */
export function finish(io: CommandIO, outcome: Pick<Outcome, 'result' | 'exitCode' | 'message' | 'hint'>): number {
  io.bus.emit({ type: 'done', result: outcome.result, exitCode: outcome.exitCode, message: outcome.message, hint: outcome.hint });
  return outcome.exitCode;
}

/** Run `fn` with a context and always close the provider afterwards. */
export async function withContext<T extends { close(): Promise<void> }, R>(ctx: T, fn: (ctx: T) => Promise<R>): Promise<R> {
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
