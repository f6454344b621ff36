import { Command, Option } from 'commander';
import { EXIT_CODE_HELP } from '../core/exit-codes.js';
import { INIT_PROVIDERS, PROVIDER_MANIFEST, ROUTER_MANIFEST } from '../providers/provider-manifest.js';
import type { GlobalOptions } from './main.js';
import { version } from './version.js';

/** A command's module, loaded when the command runs: its default export runs it and returns the exit code. */
export type CommandModule = () => Promise<{ default: (opts: any, globals: GlobalOptions, io: any) => Promise<number> }>;

/**
 * Builds the command tree. Command modules load lazily inside their actions, so `zdd --help` and
 * `zdd --version` touch neither the config loader nor any provider SDK.
 */
export function buildProgram(onRun: (load: CommandModule, opts: any, cmd: Command) => Promise<void>): Command {
  const program = new Command('zdd')
    .description('Zero-downtime deploys: canary, blue-green and rolling releases with verified traffic shifts and automatic rollback.')
    .version(version, '-V, --version')
    .option('-c, --config <path>', 'config file (default: deploy.config.ts, .js, .mjs, .json, .yaml or "zdd" in package.json)')
    .option('-e, --env <name>', 'environment whose overrides apply (config "environments")')
    .option('--json', 'NDJSON events on stdout (ends with a "done" event); human text on stderr')
    .option('--verbose', 'more detail, and stack traces on errors')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--no-color', 'no colours')
    .showHelpAfterError('(run zdd --help for usage)')
    .addHelpText('after', `\n${EXIT_CODE_HELP}\n`)
    .exitOverride();

  const action = (load: CommandModule) =>
    async function (this: Command, ...args: unknown[]) {
      const cmd = args[args.length - 1] as Command;
      await onRun(load, { ...cmd.opts(), args: cmd.args }, cmd);
    };

  program
    .command('deploy')
    .description('roll out a revision with a strategy, checking between steps; rolls back by itself on failure')
    .option('-r, --revision <id>', 'revision to deploy (e.g. v2; passed to the app as ZDD_REVISION)')
    .option('-i, --image <ref>', 'container image (AWS); the revision id defaults to its tag')
    .option('-s, --strategy <name>', 'canary, linear, blue-green, rolling or a plugin (default: config strategies.default or canary)')
    .option('--no-rollback', 'on failure, stop where it failed instead of rolling back (exit 4)')
    .option('--lock-wait <duration>', 'wait this long for another deploy to finish (e.g. 30s, 5m)', '0')
    .option('--until-pause', 'for CI: at a manual pause, checkpoint and exit 6 instead of waiting; `zdd promote` in a later job continues')
    .option('--detach', 'go on in a background process (logging to a file) and return once the deploy is underway; follow with `zdd status --watch`')
    .option('--log <file>', 'with --detach: the log file (default .zdd/logs/deploy-<time>.log next to the config)')
    .option('--force', 'start even when preflight finds weights changed outside zdd, a sick stable or an unrecorded revision (the record notes it)')
    .action(action(() => import('./commands/deploy-command.js')));

  program
    .command('plan')
    .description('print exactly the steps deploy would run, changing nothing')
    .option('-r, --revision <id>', 'revision to plan for (default: the --image tag, as deploy would)')
    .option('-i, --image <ref>', 'container image (AWS)')
    .option('-s, --strategy <name>', 'strategy to plan with')
    .action(action(() => import('./commands/plan-command.js')));

  program
    .command('rollback')
    .description('abort a deploy in progress, or restore the revision that ran before the last deploy')
    .option('--to <revision>', 'restore this revision (any running or recorded one) instead of the previous')
    .option('--lock-wait <duration>', 'wait this long for the lock', '0')
    .option('--force', 'roll back even to a revision that needs a schema a contract migration removed (docs/migrations.md)')
    .option('--migration-ran', 'a migration cut short by a crash did take effect (checked in the database): do not run it again')
    .option('--migration-not-run', 'a migration cut short by a crash did not take effect (checked in the database)')
    .action(action(() => import('./commands/rollback-command.js')));

  program
    .command('restore')
    .description('put the router back to the weights the last deploy wrote (after someone changed them); revisions stay as they are')
    .option('--dry-run', 'say exactly what would change, change nothing')
    .option('--lock-wait <duration>', 'wait this long for the lock', '0')
    .action(action(() => import('./commands/restore-command.js')));

  program
    .command('status')
    .description('what serves production now, the last deploy and its checks, and the lock')
    .option('-w, --watch', 'refresh until the deploy in progress ends')
    .action(action(() => import('./commands/status-command.js')));

  program
    .command('history')
    .description('past deploys, newest first: revision, image, strategy, result, who, when, how long')
    .option('-n, --limit <count>', 'how many', '20')
    .action(action(() => import('./commands/history-command.js')));

  program
    .command('report')
    .argument('[id]', 'deploy id or a unique prefix (default: the latest deploy)')
    .description("one deploy's timeline as Markdown (or JSON with --json): steps, weights, every check verdict, hooks, rollback reason")
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .action(action(() => import('./commands/report-command.js')));

  program
    .command('promote')
    .description('continue a paused deploy (or one whose process is gone) past its pause')
    .option('--until-pause', 'stop again (exit 6) at the next manual pause instead of waiting there')
    .option('--migration-ran', 'a migration cut short by a crash did take effect (checked in the database): skip it')
    .option('--migration-not-run', 'a migration cut short by a crash did not take effect (checked in the database): run it again')
    .action(action(() => import('./commands/promote-command.js')));

  program
    .command('contract')
    .description('run the pending contract migration of the last release (config migrations.contract), once the old revision is retired')
    .option('--lock-wait <duration>', 'wait this long for the lock', '0')
    .option('--migration-ran', 'a contract cut short by a crash did take effect (checked in the database): record it as run')
    .option('--migration-not-run', 'a contract cut short by a crash did not take effect (checked in the database): run it again')
    .action(action(() => import('./commands/contract-command.js')));

  program
    .command('abort')
    .description('stop the deploy in progress and roll it back')
    .action(action(() => import('./commands/abort-command.js')));

  program
    .command('validate')
    .description('check the config and name every problem')
    .option('--provider-checks', "also read the platform (deregistration delay, stop timeout, grace period, stickiness) and lint the drains against the config; exit 5 on a refusal")
    .action(action(() => import('./commands/validate-command.js')));

  program
    .command('schema')
    .description("print the config's JSON Schema (editor completion for deploy.config.json / .yaml)")
    .option('-o, --output <file>', 'write it to a file instead of stdout')
    .action(action(() => import('./commands/schema-command.js')));

  program
    .command('init')
    .description('write a commented deploy.config.ts')
    .addOption(new Option('-p, --provider <name>', 'provider to configure').choices(INIT_PROVIDERS).default('local'))
    .addOption(new Option('--router <name>', "router in front of the provider's platform (default: the platform's own)").choices(Object.keys(ROUTER_MANIFEST)))
    .option('-o, --output <path>', 'file to write', 'deploy.config.ts')
    .option('-f, --force', 'overwrite an existing file')
    .action(action(() => import('./commands/init-command.js')));

  const lock = program.command('lock').description('inspect or release the service lock');
  lock
    .command('status')
    .description('who holds the lock, since when, and whether it looks stale')
    .action(action(() => import('./commands/lock-command.js').then((m) => ({ default: m.lockStatus }))));
  lock
    .command('release')
    .description('release the lock whoever holds it (needs --force)')
    .option('-f, --force', 'really release it')
    .action(action(() => import('./commands/lock-command.js').then((m) => ({ default: m.lockRelease }))));

  program
    .command('retire')
    .description('stop a revision kept after a blue-green deploy once its keep time has passed')
    .option('--now', 'retire it even if its keep time has not passed')
    .option('--lock-wait <duration>', 'wait this long for the lock', '0')
    .action(action(() => import('./commands/retire-command.js')));

  program
    .command('release <flag>')
    .description('ramp a feature flag step by step with bakes and analysis, no traffic change; promote/abort/rollback/status work on it')
    .option('--steps <percentages>', 'rollout percentages in order, e.g. 10,50,100 (default: config flags.release.steps or 10,50,100)')
    .option('--pause <duration>', 'bake after each step, with analysis (default: config flags.release.pause or 5m)')
    .option('--analysis <gates>', 'gates that run during every bake, comma separated (default: "analysis" when defined)')
    .option('--lock-wait <duration>', 'wait this long for another deploy to finish (e.g. 30s, 5m)', '0')
    .option('--dry-run', 'print the plan, change nothing')
    .action(action(() => import('./commands/release-command.js')));

  const flag = program.command('flag').description('feature flags on the configured flag service (config "flags")');
  flag
    .command('kill <flag>')
    .description('kill switch: turn the flag off now (one call, read back); works during a release and from any machine')
    .action(action(() => import('./commands/flag-command.js').then((m) => ({ default: m.flagKill }))));
  flag
    .command('get <flag>')
    .description('show the flag as the flag service reports it')
    .action(action(() => import('./commands/flag-command.js').then((m) => ({ default: m.flagGet }))));

  program
    .command('down')
    .description('stop everything the provider started for the service (local: router and processes)')
    .action(action(() => import('./commands/down-command.js')));

  for (const cmd of [...program.commands, ...lock.commands]) if (cmd.name() !== 'lock') addProviderOptions(cmd);
  return program;
}

/** Each provider's own flags (AWS: --region, --profile), under its own heading in the command's help. */
function addProviderOptions(cmd: Command): void {
  for (const manifest of Object.values(PROVIDER_MANIFEST)) {
    for (const o of manifest.cliOptions) cmd.addOption(new Option(o.flags, o.description).helpGroup(`${manifest.title} options:`));
  }
}
