import { ExitCode } from '../core/exit-codes.js';
import { killSwitchArgv } from './kill-switch-argv.js';

/** Global flags every command understands. */
export interface GlobalOptions {
  config?: string;
  env?: string;
  json?: boolean;
  verbose?: boolean;
  yes?: boolean;
  color?: boolean;
}

/**
 * Test hook, exported from the CLI's entry so test/cli/fast-clock.mjs reaches the copy the CLI runs
 * (bundled or not); loaded on call, so `zdd --help` still loads no config code.
 */
export async function installCommandClock(clock: import('../core/clock.js').Clock): Promise<void> {
  (await import('./command-start.js')).installCommandClock(clock);
}

/** The one place that turns a command's result or error into an exit code. */
export async function main(argv: string[]): Promise<void> {
  let exitCode: number = ExitCode.Ok;
  // The kill switch skips commander's command tree (a tenth of its CPU before the write: it is the
  // incident path). Any argument the short parser does not know goes the usual way.
  const kill = killSwitchArgv(argv);
  if (kill) {
    const { runCommand } = await import('./run-cli-command.js');
    exitCode = await runCommand(() => import('./commands/flag-command.js').then((m) => ({ default: m.flagKill })), kill.opts, kill.globals);
  } else {
    const [{ buildProgram }, { CommanderError }] = await Promise.all([import('./program.js'), import('commander')]);
    const program = buildProgram(async (load, opts, cmd) => {
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const { runCommand } = await import('./run-cli-command.js');
      exitCode = await runCommand(load, opts, globals);
    });
    try {
      await program.parseAsync(argv);
    } catch (e) {
      if (e instanceof CommanderError) {
        exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? ExitCode.Ok : ExitCode.Usage;
      } else {
        process.stderr.write(`zdd: ${e instanceof Error ? e.message : String(e)}\n`);
        exitCode = ExitCode.Usage;
      }
    }
  }
  process.exitCode = exitCode;
  // Everything should be closed by now; if a stray handle keeps the loop alive, do not hang a CI job.
  setTimeout(() => process.exit(exitCode), 2000).unref();
}
