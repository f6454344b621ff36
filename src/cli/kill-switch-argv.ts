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
 * `zdd flag kill <flag>` with only global options, read without commander: what commander's tree
 * would give that command (the same options and globals; test/cli/kill-switch-argv.test.ts compares
 * them), or undefined for anything else, which then goes through commander as usual (help, errors,
 * provider options, other spellings).
 */
export function killSwitchArgv(argv: readonly string[]): { opts: { args: string[] }; globals: GlobalOptions } | undefined {
  const args = argv.slice(2);
  const globals: GlobalOptions = { color: true };
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
      return undefined;
    } else {
      words.push(arg);
    }
  }
  if (words.length !== 3 || words[0] !== 'flag' || words[1] !== 'kill') return undefined;
  return { opts: { args: [words[2]!] }, globals };
}
