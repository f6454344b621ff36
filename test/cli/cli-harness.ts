import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFakeState, type FakeProviderOptions } from '../fake/fake-provider.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const ZDD_BIN = join(ROOT, 'bin/zdd.js');
const FAKE_PROVIDER = join(ROOT, 'test/fake/fake-provider.ts');
/** `node` arguments that install the fast-forward clock in the binary (production has no switch for it). */
export const FAST_CLOCK_ARGS = ['--import', pathToFileURL(join(ROOT, 'test/cli/fast-clock.mjs')).href];

/** How to start the binary: `fastClock` makes bakes, polls and drains pass in no real time. */
export interface StartOptions {
  fastClock?: boolean;
  /** More modules for `node --import` (test-only holds, e.g. test/flags/hold-after-write.mjs). */
  preload?: string[];
}

/** The node arguments StartOptions ask for, before the binary. */
export function nodeArgs(opts: StartOptions): string[] {
  return [...(opts.fastClock ? FAST_CLOCK_ARGS : []), ...(opts.preload ?? []).flatMap((m) => ['--import', pathToFileURL(m).href])];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Project {
  dir: string;
  failFile: string;
  fakeState(): ReturnType<typeof readFakeState>;
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number } & StartOptions): Promise<RunResult>;
  start(args: string[], opts?: { env?: Record<string, string> } & StartOptions): Running;
  cleanup(): void;
}

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<RunResult>;
}

/** Runs the built binary in `cwd`; output is not a TTY, as in CI. */
export function startZdd(args: string[], cwd: string, env: Record<string, string> = {}, opts: StartOptions = {}): Running {
  const base = { ...process.env };
  for (const k of ['CI', 'GITHUB_ACTIONS', 'GITHUB_STEP_SUMMARY', 'FORCE_COLOR', 'NO_COLOR']) delete base[k];
  const child = spawn(process.execPath, [...nodeArgs(opts), ZDD_BIN, ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d) => {
    out += String(d);
    for (const w of [...waiters]) if (w.re.test(out)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr!.on('data', (d) => (err += String(d)));
  const done = new Promise<RunResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout: out, stderr: err })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    done,
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise<void>((res, rej) => {
        if (re.test(out)) return res();
        const t = setTimeout(() => rej(new Error(`timed out waiting for ${re} in:\n${out}\n--- stderr:\n${err}`)), timeoutMs);
        waiters.push({ re, resolve: () => (clearTimeout(t), res()) });
        void done.then(() => {
          clearTimeout(t);
          if (!re.test(out)) rej(new Error(`zdd exited before printing ${re}:\n${out}\n--- stderr:\n${err}`));
        });
      }),
  };
}

export async function runZdd(args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 60_000, opts: StartOptions = {}): Promise<RunResult> {
  const r = startZdd(args, cwd, env, opts);
  const t = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  try {
    return await r.done;
  } finally {
    clearTimeout(t);
  }
}

/**
 * A temporary project whose deploy.config.ts uses the fake provider (state in a file) and real
 * command gates and hooks that fail while the project's FAIL file exists.
 */
export function makeProject(opts: { fake?: Partial<FakeProviderOptions>; extra?: string; stable?: string | null; canarySteps?: string } = {}): Project {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-cli-'));
  const stateFile = join(dir, 'fake-state.json');
  const failFile = join(dir, 'FAIL');
  const probe = `test ! -f ${failFile}`;
  const fake = { stateFile, failFile, ...opts.fake };
  const stable = opts.stable === undefined ? 'v1' : opts.stable;
  if (stable) {
    writeFileSync(stateFile, JSON.stringify({ revisions: { [stable]: { revision: { id: stable }, desired: 2, running: true } }, weights: { [stable]: 100 }, testRoute: null, calls: [] }));
  }
  writeFileSync(
    join(dir, 'deploy.config.ts'),
    `import { defineConfig } from 'zdd';
import { fakeProviderFactory } from ${JSON.stringify(FAKE_PROVIDER)};

export default defineConfig({
  service: 'web',
  provider: { type: 'custom', name: 'fake', create: fakeProviderFactory, options: ${JSON.stringify(fake)} },
  replicas: 2,
  drain: '0s',
  gates: {
    smoke: { checks: [{ type: 'command', run: ${JSON.stringify(probe)} }] },
    analysis: { checks: [{ type: 'command', run: ${JSON.stringify(probe)}, interval: '1s' }] },
  },
  hooks: { preShift: ${JSON.stringify(probe)}, onRollback: ${JSON.stringify(probe)} },
  strategies: {
    canary: { steps: ${opts.canarySteps ?? "[{ weight: 20, pause: '10s' }, { weight: 50, pause: '10s' }, { weight: 100 }]"} },
    'blue-green': { bake: '10s', keepPrevious: '10m' },
  },
  ${opts.extra ?? ''}
});
`,
  );
  return {
    dir,
    failFile,
    fakeState: () => readFakeState(stateFile),
    run: (args, o = {}) => runZdd(args, dir, o.env, o.timeoutMs, o),
    start: (args, o = {}) => startZdd(args, dir, o.env, o),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Every line parses as JSON; returns the objects. */
export function parseNdjson(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export const ANSI = /\u001b\[[0-9;]*[A-Za-z]/;
