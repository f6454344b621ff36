import type { EventBus } from '../core/events.js';
import { GithubReporter } from '../reporters/github-reporter.js';
import { JsonReporter } from '../reporters/json-reporter.js';
import { PlainReporter } from '../reporters/plain-reporter.js';
import type { Reporter } from '../reporters/reporter.js';
import type { GlobalOptions } from './main.js';

/** Where human text and data go, decided once from the flags and the terminal. */
export interface Output {
  /** A person watches a terminal: spinners and colour are welcome. */
  interactive: boolean;
  color: boolean;
  json: boolean;
  /** Human text (stdout normally, stderr under --json). */
  human(text: string): void;
  /** A data line for --json consumers (stdout). */
  data(obj: unknown): void;
  stderr(text: string): void;
  close(): void;
}

export async function createOutput(globals: GlobalOptions, bus: EventBus, env: NodeJS.ProcessEnv = process.env): Promise<Output> {
  const json = !!globals.json;
  const humanStream = json ? process.stderr : process.stdout;
  const interactive = !json && !!process.stdout.isTTY && !env.CI;
  const color = globals.color !== false && !('NO_COLOR' in env) && (interactive || !!env.FORCE_COLOR);
  const reporters: Reporter[] = [];
  const writeHuman = (t: string) => void humanStream.write(t);
  if (json) {
    reporters.push(new JsonReporter((t) => void process.stdout.write(t)));
    reporters.push(new PlainReporter((t) => void process.stderr.write(t), globals.verbose));
  } else if (interactive) {
    const [{ Chalk }, { default: ora }, { TtyReporter }] = await Promise.all([import('chalk'), import('ora'), import('../reporters/tty-reporter.js')]);
    const chalk = new Chalk({ level: color ? 3 : 0 });
    reporters.push(new TtyReporter(chalk, (text) => ora({ text, stream: process.stdout, color: 'cyan', isEnabled: true }), writeHuman));
  } else {
    reporters.push(new PlainReporter(writeHuman, globals.verbose));
  }
  // Under --json stdout is NDJSON ending with `done`: annotations go with the human text (the runner reads both streams).
  if (env.GITHUB_ACTIONS === 'true') reporters.push(new GithubReporter(writeHuman, env.GITHUB_STEP_SUMMARY));
  const off = bus.on((e) => {
    for (const r of reporters) r.onEvent(e);
  });
  return {
    interactive,
    color,
    json,
    human: writeHuman,
    data: (obj) => void process.stdout.write(`${JSON.stringify(obj)}\n`),
    stderr: (t) => void process.stderr.write(t),
    close: () => {
      off();
      for (const r of reporters) r.close?.();
    },
  };
}
