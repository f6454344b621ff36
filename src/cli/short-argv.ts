import type { GlobalOptions } from './main.js';

const WITH_VALUE: Record<string, 'config' | 'env'> = { '-c': 'config', '--config': 'config', '-e': 'env', '--env': 'env' };
const SWITCHES: Record<string, [keyof GlobalOptions, boolean]> = {
  '--json': ['json', true],
  '--verbose': ['verbose', true],
  '-y': ['yes', true],
  '--yes': ['yes', true],
  '--no-color': ['color', false],
};

/**
 * The commands read without commander's command tree (about a tenth of their CPU): the kill switch,
 * which an incident waits on, and `zdd validate`, which every CI run and editor save waits on. Each
 * with its own switches (option → the name commander gives it) and whether it takes one argument.
 */
export const SHORT_COMMANDS = {
  'flag kill': { words: ['flag', 'kill'], argument: true, switches: {} as Record<string, string> },
  validate: { words: ['validate'], argument: false, switches: { '--provider-checks': 'providerChecks' } as Record<string, string> },
} as const;
export type ShortCommand = keyof typeof SHORT_COMMANDS;

/**
 * One of SHORT_COMMANDS with only global options and its own switches: what commander's tree would
 * give that command (the same options and globals; test/cli/short-argv.test.ts compares them), or
 * undefined for anything else, which then goes through commander as usual (help, errors, provider
 * options, other spellings).
 */
export function shortArgv(argv: readonly string[]): { command: ShortCommand; opts: Record<string, unknown> & { args: string[] }; globals: GlobalOptions } | undefined {
  const args = argv.slice(2);
  const globals: GlobalOptions = { color: true };
  const own: Record<string, true> = {};
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^(--config|--env)=(.+)$/s.exec(arg);
    if (inline) {
      globals[WITH_VALUE[inline[1]!]!] = inline[2]!;
    } else if (arg in WITH_VALUE) {
      const value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
      globals[WITH_VALUE[arg]!] = value;
    } else if (arg in SWITCHES) {
      const [key, value] = SWITCHES[arg]!;
      (globals as Record<string, unknown>)[key] = value;
    } else if (arg.startsWith('-')) {
      own[arg] = true;
    } else {
      words.push(arg);
    }
  }
  for (const [command, spec] of Object.entries(SHORT_COMMANDS) as [ShortCommand, (typeof SHORT_COMMANDS)[ShortCommand]][]) {
    if (!spec.words.every((w, i) => words[i] === w)) continue;
    const rest = words.slice(spec.words.length);
    if (rest.length !== (spec.argument ? 1 : 0)) return undefined;
    const opts: Record<string, unknown> & { args: string[] } = { args: rest };
    for (const flag of Object.keys(own)) {
      const name = spec.switches[flag];
      if (!name) return undefined;
      opts[name] = true;
      // commander's optsWithGlobals() holds the command's own options too
      (globals as Record<string, unknown>)[name] = true;
    }
    return { command, opts, globals };
  }
  return undefined;
}
