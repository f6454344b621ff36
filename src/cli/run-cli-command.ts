// First: zod must be told before any schema is built (see the module).
import '../config/zod-setup.js';
import { ExitCode } from '../core/exit-codes.js';
import { InterruptedError, ZddError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { killRunningCommands } from '../hooks/run-command.js';
import type { GlobalOptions } from './main.js';
import { createOutput, type Output } from './output.js';

export type CommandFn = (opts: any, globals: GlobalOptions, io: CommandIO) => Promise<number>;

/** What every command gets besides its options: events/output and the interrupt signal. */
export interface CommandIO {
  bus: EventBus;
  output: Output;
  /** Aborted with an InterruptedError on SIGINT or SIGTERM. */
  signal: AbortSignal;
}

/**
 * Runs one command: output set up from the flags, signals turned into an abort, and every error
 * turned into a message, a hint and an exit code (stack traces only with --verbose).
 */
export async function runCommand(load: () => Promise<{ default: unknown }>, opts: any, globals: GlobalOptions): Promise<number> {
  const bus = new EventBus();
  const output = await createOutput(globals, bus);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) controller.abort(new InterruptedError(sig));
    else if (signals === 2) {
      // Said so that a person (and a test) knows the second one was taken and what a third does.
      process.stderr.write(`zdd: ${sig} received twice; zdd is still stopping safely (a deploy rolls back first). Once more exits now, ending running hooks, and may leave production mid-change.\n`);
    } else {
      // Hooks lead their own process groups: they would outlive zdd unsupervised.
      const ended = killRunningCommands();
      output.close();
      const hooks = ended.length ? ` Ended ${ended.length} running hook/check process group${ended.length === 1 ? '' : 's'} (${ended.join(', ')}).` : '';
      process.stderr.write(`zdd: ${sig} received three times; exiting now.${hooks} Run \`zdd status\` to see what state production is in.\n`);
      process.exit(ExitCode.NeedsPerson);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const mod = await load();
    const fn = mod.default as CommandFn;
    return await fn(opts, globals, { bus, output, signal: controller.signal });
  } catch (e) {
    const code = e instanceof ZddError ? e.exitCode : ExitCode.NeedsPerson;
    const message = e instanceof ZddError ? e.message : `Unexpected error: ${e instanceof Error ? e.message : String(e)}`;
    const hint = e instanceof ZddError ? e.hint : 'This is a bug in zdd; run again with --verbose and report the stack trace. Run `zdd status` to see the state of production.';
    if (globals.verbose && e instanceof Error && e.stack) output.stderr(`${bus.maskText(e.stack)}\n`);
    bus.emit({ type: 'done', result: 'error', exitCode: code, message, hint });
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    output.close();
  }
}
