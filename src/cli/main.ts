import { ExitCode } from '../core/exit-codes.js';
import { shortArgv, type ShortCommand } from './short-argv.js';

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

/** The modules of the commands short-argv.ts reads, as program.ts loads them. */
const SHORT_COMMAND_MODULES: Record<ShortCommand, () => Promise<{ default: unknown }>> = {
  'flag kill': () => import('./commands/flag-command.js').then((m) => ({ default: m.flagKill })),
  validate: () => import('./commands/validate-command.js'),
};

/** The one place that turns a command's result or error into an exit code. */
export async function main(argv: string[]): Promise<void> {
  let exitCode: number = ExitCode.Ok;
  // The kill switch and validate skip commander's command tree (src/cli/short-argv.ts). Any argument
  // the short parser does not know goes the usual way.
  const short = shortArgv(argv);
  if (short) {
    const { runCommand } = await import('./run-cli-command.js');
    exitCode = await runCommand(SHORT_COMMAND_MODULES[short.command], short.opts, short.globals);
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
