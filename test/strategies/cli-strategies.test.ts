import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import type { HookPoint } from '../../src/index.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { parseNdjson, ROOT, runZdd, startZdd, type RunResult } from '../cli/cli-harness.js';
import { readFakeState, type FakeFailure } from '../fake/fake-provider.js';
import { writeDocsPlugin } from './docs-plugin.js';
import { ALL_CAPABILITIES } from './fixtures.js';

/**
 * The built binary (run `npm run build` first) with each built-in strategy, against the fake
 * provider. The project is this file's own, so the options below are exactly what the config says.
 */
const FAKE_PROVIDER = join(ROOT, 'test/fake/fake-provider.ts');

interface StrategyProject {
  dir: string;
  stateFile: string;
  run(args: string[]): Promise<RunResult>;
  cleanup(): void;
}

function strategyProject(opts: { failures?: FakeFailure[]; config?: string; files?: (dir: string) => void } = {}): StrategyProject {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-strategies-'));
  const stateFile = join(dir, 'fake-state.json');
  writeFileSync(stateFile, JSON.stringify({ revisions: { v1: { revision: { id: 'v1' }, desired: 2, running: true } }, weights: { v1: 100 }, testRoute: null, calls: [] }));
  opts.files?.(dir);
  const fake = { stateFile, failures: opts.failures ?? [] };
  writeFileSync(
    join(dir, 'deploy.config.ts'),
    `import { defineConfig } from 'zdd';
import { fakeProviderFactory } from ${JSON.stringify(FAKE_PROVIDER)};
${opts.config ? "import { approveThenSwitch } from './approve-then-switch.ts';" : ''}
export default defineConfig({
  service: 'web',
  provider: { type: 'custom', name: 'fake', create: fakeProviderFactory, options: ${JSON.stringify(fake)} },
  replicas: 2,
  drain: '0s',
  gates: {
    smoke: { checks: [{ type: 'command', run: 'true' }] },
    analysis: { checks: [{ type: 'command', run: 'true', interval: '5s' }] },
  },
  hooks: { preShift: 'true', onRollback: 'true' },
  ${opts.config ?? `strategies: {
    canary: { steps: [{ weight: 20, pause: '10s' }, { weight: 50 }, { weight: 100 }] },
    linear: { stepPercent: 50, interval: '10s' },
    'blue-green': { bake: '10s', keepPrevious: '10m' },
    rolling: { pause: '10s' },
  },`}
});
`,
  );
  return { dir, stateFile, run: (args) => runZdd(args, dir, {}, undefined, { fastClock: true }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// What strategyProject() configures, as the strategies receive it.
const projectInput = {
  service: 'web',
  stable: { revision: { id: 'v1' }, replicas: 2 },
  candidate: { id: 'v2' },
  replicas: 2,
  capabilities: ALL_CAPABILITIES,
  hooks: ['preShift', 'onRollback'] as HookPoint[],
  gates: ['smoke', 'analysis'],
  drainMs: 0,
};
const projectOptions: Record<string, unknown> = {
  canary: { steps: [{ weight: 20, pause: 10_000 }, { weight: 50 }, { weight: 100 }] },
  linear: { stepPercent: 50, interval: 10_000 },
  'blue-green': { bake: 10_000, keepPrevious: 600_000 },
  rolling: { pause: 10_000 },
};

describe.each(Object.keys(BUILT_IN_STRATEGIES))('zdd with --strategy %s', (name) => {
  it('plan prints what the strategy plans, with the config options parsed', async () => {
    const p = strategyProject();
    try {
      const r = await p.run(['plan', '--revision', 'v2', '--strategy', name, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const plan = parseNdjson(r.stdout).find((e) => e.type === 'plan');
      expect(plan?.steps).toEqual(BUILT_IN_STRATEGIES[name].plan({ ...projectInput, options: projectOptions[name] }).steps);
      expect(readFakeState(p.stateFile).calls.filter((c) => !['preflight', 'snapshot'].includes(c.method))).toEqual([]);
    } finally {
      p.cleanup();
    }
  });

  it('deploy ends with the candidate at 100% and stable retired (blue-green: kept)', async () => {
    const p = strategyProject();
    try {
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', name]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const s = readFakeState(p.stateFile);
      expect(s.weights).toEqual({ v2: 100 });
      expect(s.testRoute).toBeNull();
      expect(s.revisions.v2).toMatchObject({ running: true, desired: 2 });
      expect(s.revisions.v1.running).toBe(name === 'blue-green');
    } finally {
      p.cleanup();
    }
  });

  it('a failed traffic shift mid-deploy rolls back to stable at full size (exit 1)', async () => {
    // The second weight change (blue-green has only one) fails; the rollback's own shift succeeds.
    const p = strategyProject({ failures: [{ method: 'setWeights', nth: name === 'blue-green' ? 1 : 2 }] });
    try {
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', name]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      const s = readFakeState(p.stateFile);
      expect(s.weights).toEqual({ v1: 100 });
      expect(s.testRoute).toBeNull();
      expect(s.revisions.v1).toMatchObject({ running: true, desired: 2 });
      expect(s.revisions.v2.running).toBe(false);
      // Traffic first: the rollback's first provider change is the weight switch back.
      const calls = s.calls.map((c) => c.method);
      const failedAt = calls.lastIndexOf('setWeights', calls.findLastIndex((m) => m === 'setWeights') - 1);
      const afterFailure = calls.slice(failedAt + 1).filter((m) => !['getWeights', 'snapshot', 'waitHealthy'].includes(m));
      expect(afterFailure[0]).toBe('setWeights');
    } finally {
      p.cleanup();
    }
  });
});

describe('a strategy plugin from deploy.config.ts (the docs example)', () => {
  const p = strategyProject({
    files: (dir) => writeDocsPlugin(dir),
    config: `strategies: { default: 'approve-then-switch', plugins: { 'approve-then-switch': approveThenSwitch({ weight: 10 }) } },`,
  });
  afterAll(() => p.cleanup());

  it('plans, pauses for promote, and finishes', async () => {
    const plan = await p.run(['plan', '--revision', 'v2']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('with approve-then-switch (');
    expect(plan.stdout).toContain('shift traffic: stable 90% | candidate 10%');

    const deploy = startZdd(['deploy', '--revision', 'v2'], p.dir, {}, { fastClock: true });
    try {
      await deploy.waitFor(/zdd promote/, 30_000);
      expect(readFakeState(p.stateFile).weights).toEqual({ v1: 90, v2: 10 });
      const promote = await p.run(['promote']);
      expect(promote.code, promote.stdout + promote.stderr).toBe(0);
      const r = await deploy.done;
      expect(r.code, r.stdout + r.stderr).toBe(0);
    } finally {
      if (deploy.child.exitCode === null) deploy.child.kill('SIGKILL');
    }
    const s = readFakeState(p.stateFile);
    expect(s.weights).toEqual({ v2: 100 });
    expect(s.revisions.v1.running).toBe(false);
  });
});

describe('the docs plugin against the built package', () => {
  it("type-checks strictly with `import type { Strategy } from 'zdd'` resolved as a user's project resolves it", () => {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-plugin-types-'));
    try {
      const { file } = writeDocsPlugin(dir);
      // As written in the docs, resolved through node_modules/zdd and package.json "exports" (dist types).
      const docs = readFileSync(join(ROOT, 'docs/strategies.md'), 'utf8');
      const original = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).find((c) => c.includes('export function approveThenSwitch('))!;
      writeFileSync(file, original);
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules/zdd'), 'dir');
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        types: [],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
