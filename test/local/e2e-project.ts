import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, freePort, stopGroup } from '../../src/providers/local/processes.js';
import type { RouterState } from '../../src/providers/local/router-state.js';
import type { LoadReport, LoadRun, LoadWindow } from '../helpers/load-generator.js';
import { nodeArgs, type StartOptions } from '../cli/cli-harness.js';
import { EXAMPLE_APP, ROOT } from './local-fixture.js';

export const ZDD_BIN = join(ROOT, 'bin/zdd.js');

export interface ZddResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Parsed --json events (when --json was passed). */
  events: any[];
}

export interface ZddRun {
  child: ChildProcess;
  /** Called for each --json event as it arrives. */
  onEvent(fn: (e: any) => void): void;
  /** Resolves at the first event matching. */
  waitForEvent(pred: (e: any) => boolean, timeoutMs?: number): Promise<any>;
  done: Promise<ZddResult>;
}

export interface LocalProject {
  dir: string;
  port: number;
  url: string;
  stateFile: string;
  /** Start the built binary in the project dir; `--json` is added. `fastClock`: waits pass in no real time. */
  start(args: string[], env?: Record<string, string>, opts?: StartOptions): ZddRun;
  run(args: string[], env?: Record<string, string>): Promise<ZddResult>;
  routerState(): RouterState | null;
  /** Pids of everything the project's router state records (router and instances). */
  recordedPids(): number[];
  /** Stop whatever is left (zdd down, then signals) and remove the directory. */
  cleanup(): Promise<void>;
}

export interface ProjectOptions {
  /** Extra config source spliced into defineConfig({...}). */
  extra?: string;
  command?: string;
  canarySteps?: string;
  replicas?: number;
  port?: number;
  healthTimeout?: string;
  /** Source of the whole `provider: {...}` object, replacing the local one (another platform or router). */
  provider?: string;
  /** Extra keys of the local provider's own block (e.g. `deadMansSwitch: false`). */
  localProviderExtra?: string;
}

/**
 * A temp project with the example app and a deploy.config.ts (imports 'zdd' like a user's), on a
 * free port, run through the built binary. The bakes are short but real: load tests measure at each step.
 */
export async function localProject(opts: ProjectOptions = {}): Promise<LocalProject> {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-e2e-'));
  copyFileSync(EXAMPLE_APP, join(dir, 'app.mjs'));
  const port = opts.port ?? (await freePort('127.0.0.1'));
  writeFileSync(
    join(dir, 'deploy.config.ts'),
    `import { defineConfig } from 'zdd';
export default defineConfig({
  service: 'web',
  provider: ${
    opts.provider ??
    `{
    type: 'local',
    command: ${JSON.stringify(opts.command ?? 'node app.mjs')},
    port: ${port},
    health: { path: '/health', interval: '50ms' },
    stopGrace: '2s',${opts.localProviderExtra ? `
    ${opts.localProviderExtra},` : ''}
  }`
  },
  replicas: ${opts.replicas ?? 2},
  health: { timeout: ${JSON.stringify(opts.healthTimeout ?? '10s')} },
  drain: '1s',
  strategies: {
    canary: { steps: ${opts.canarySteps ?? "[{ weight: 20, pause: '2s' }, { weight: 50, pause: '2s' }, { weight: 100 }]"} },
    'blue-green': { bake: '1s', keepPrevious: '20s' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },
  gates: {
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    analysis: {
      checks: [{ type: 'router', name: 'candidate-errors', interval: '500ms', window: '1s', minRequests: 20, maxErrorRate: 5, maxErrorRateIncrease: 1 }],
    },
  },
  ${opts.extra ?? ''}
});
`,
  );
  const stateFile = join(dir, '.zdd/local/web/router.json');
  const children = new Set<ChildProcess>();

  const start = (args: string[], env: Record<string, string> = {}, opts: StartOptions = {}): ZddRun => {
    const base = { ...process.env };
    for (const k of ['CI', 'GITHUB_ACTIONS', 'GITHUB_STEP_SUMMARY', 'FORCE_COLOR', 'NO_COLOR']) delete base[k];
    const child = spawn(process.execPath, [...nodeArgs(opts), ZDD_BIN, ...args, '--json'], { cwd: dir, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    let partial = '';
    const events: any[] = [];
    const listeners: ((e: any) => void)[] = [];
    child.stdout!.on('data', (d) => {
      out += String(d);
      partial += String(d);
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        if (!l.trim()) continue;
        let e: any;
        try {
          e = JSON.parse(l);
        } catch {
          continue;
        }
        events.push(e);
        for (const fn of listeners) fn(e);
      }
    });
    child.stderr!.on('data', (d) => (err += String(d)));
    const done = new Promise<ZddResult>((res) =>
      child.on('close', (code, signal) => {
        children.delete(child);
        res({ code, signal, stdout: out, stderr: err, events });
      }),
    );
    return {
      child,
      onEvent: (fn) => listeners.push(fn),
      waitForEvent(pred, timeoutMs = 30_000) {
        const seen = events.find(pred);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs}ms; stderr:\n${err}`)), timeoutMs);
          listeners.push((e) => {
            if (pred(e)) {
              clearTimeout(t);
              resolve(e);
            }
          });
          void done.then(() => {
            clearTimeout(t);
            reject(new Error(`zdd exited before the event; stderr:\n${err}`));
          });
        });
      },
      done,
    };
  };

  const routerState = (): RouterState | null => (existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as RouterState) : null);
  const recordedPids = (): number[] => {
    const s = routerState();
    if (!s) return [];
    return [...(s.routerPid ? [s.routerPid] : []), ...(s.secondaryPid ? [s.secondaryPid] : []), ...s.instances.map((i) => i.pid)];
  };

  return {
    dir,
    port,
    url: `http://127.0.0.1:${port}/`,
    stateFile,
    start,
    run: (args, env) => start(args, env).done,
    routerState,
    recordedPids,
    async cleanup() {
      for (const c of children) c.kill('SIGKILL');
      const pids = recordedPids();
      const down = await start(['down']).done.catch((e) => ({ code: -1, stderr: String(e) }) as const);
      if (down.code !== 0 || process.env.ZDD_DEBUG_CLEANUP) console.error(`cleanup: zdd down exited ${down.code}: ${down.stderr.slice(-1500)}`);
      await Promise.all(pids.filter((p) => isAlive(p)).map((p) => stopGroup(p, 1_000)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Summarise a result for assertion messages. */
export function explain(r: ZddResult): string {
  const done = r.events.filter((e) => e.type === 'done').pop();
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${done?.message ?? ''}\n${r.stderr.slice(-3000)}`;
}

/** Pids of processes whose working directory is inside `dir` (instances run there, the router in its state dir). */
export function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if ((cwd === dir || cwd.startsWith(`${dir}/`)) && isAlive(Number(name))) out.push(Number(name));
    } catch {
      // gone or not ours
    }
  }
  return out;
}

/** Processes running in the project whose process group is not recorded in the router state (orphans). */
export function unrecordedProcesses(p: LocalProject): number[] {
  const recorded = new Set(p.recordedPids());
  return processesUnder(p.dir).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      return !recorded.has(pgid);
    } catch {
      return false;
    }
  });
}

/** Opens a load window per verified traffic shift of `run` (skipping 150ms of settling), keyed by the candidate's weight. */
export function loadPerStep(run: ZddRun, candidate: string, load: LoadRun): Promise<{ weight: number; report: LoadReport }[]> {
  const steps: { weight: number; report: LoadReport }[] = [];
  let open: { weight: number; w?: LoadWindow; timer: NodeJS.Timeout } | undefined;
  const close = () => {
    if (!open) return;
    clearTimeout(open.timer);
    if (open.w) steps.push({ weight: open.weight, report: open.w.close() });
    open = undefined;
  };
  run.onEvent((e) => {
    if (e.type === 'step.start' && e.step.kind === 'shiftTraffic') close();
    if (e.type === 'traffic' && e.verified) {
      close();
      const o: NonNullable<typeof open> = { weight: e.byRevision[candidate] ?? 0, timer: setTimeout(() => (o.w = load.window()), 150) };
      open = o;
    }
    if (e.type === 'rollback.start' || e.type === 'done') close();
  });
  return run.done.then(() => {
    close();
    return steps;
  });
}
