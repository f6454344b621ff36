import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, ROOT, ZDD_BIN, FAST_CLOCK_ARGS } from '../cli/cli-harness.js';

/**
 * The composite action's zdd step (action.yml), run exactly as a GitHub runner runs a `shell: bash`
 * step (the script written to a file, then `bash --noprofile --norc -eo pipefail <file>`), against
 * the built binary and a fake-provider project, with GITHUB_ACTIONS, GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY set. GitHub's own parts (setup-node, the runner) cannot run here; the script
 * that turns inputs into arguments and the result into outputs can.
 */
function zddStepScript(): string {
  const lines = readFileSync(join(ROOT, 'action.yml'), 'utf8').split('\n');
  const id = lines.findIndex((l) => l.trim() === 'id: zdd');
  const run = lines.findIndex((l, i) => i > id && l.trim() === 'run: |');
  const body: string[] = [];
  for (const l of lines.slice(run + 1)) {
    if (l.trim() && !l.startsWith('        ')) break;
    body.push(l.slice(8));
  }
  return body.join('\n');
}

describe('action.yml: the zdd step', () => {
  const p = makeProject({ canarySteps: "[{ weight: 20, pause: 'manual' }, { weight: 100 }]" });
  // Its FAIL file fails the gates and hooks only, not the provider: a deploy that rolls back.
  const failing = makeProject({ fake: { failFile: undefined } });
  afterAll(() => (p.cleanup(), failing.cleanup()));

  function step(inputs: Record<string, string>, project = p): { code: number | null; outputs: Record<string, string>; stdout: string; stderr: string; summary: string } {
    const temp = mkdtempSync(join(project.dir, 'runner-'));
    const output = join(temp, 'output');
    const summary = join(temp, 'step-summary.md');
    const script = join(temp, 'step.sh');
    writeFileSync(output, '');
    writeFileSync(summary, '');
    writeFileSync(script, zddStepScript());
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      NODE_OPTIONS: FAST_CLOCK_ARGS.join(' '),
      ZDD_BIN,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: temp,
      GITHUB_OUTPUT: output,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_RUN_ID: '1',
      GITHUB_RUN_ATTEMPT: '1',
    };
    for (const name of ['COMMAND', 'CONFIG', 'REVISION', 'IMAGE', 'STRATEGY', 'ENV', 'UNTIL_PAUSE', 'ARGS']) env[`INPUT_${name}`] = inputs[name.toLowerCase()] ?? '';
    // The runner's own command line for `shell: bash` (docs: "Workflow syntax", jobs.<job_id>.steps[*].shell).
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: project.dir, env, encoding: 'utf8', timeout: 60_000 });
    const outputs = Object.fromEntries(readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => l.split(/=(.*)/s).slice(0, 2)));
    return { code: r.status, outputs, stdout: r.stdout, stderr: r.stderr, summary: readFileSync(summary, 'utf8') };
  }

  it('deploy with until-pause: the step succeeds with result "paused", exit-code 6 and the deployment id; promote then finishes it', () => {
    const d = step({ command: 'deploy', revision: 'v2', until_pause: 'true' });
    expect(d.code, d.stdout).toBe(0);
    expect(d.outputs).toMatchObject({ result: 'paused', 'exit-code': '6' });
    expect(d.outputs['deployment-id']).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });
    // A pause on purpose is no error in the run's annotations.
    expect(d.stderr).not.toContain('::error');
    expect(d.stderr).toContain('::notice title=zdd paused::');
    expect(d.summary).toContain('**paused** (exit 6)');

    const promote = step({ command: 'promote' });
    expect(promote.code, promote.stdout).toBe(0);
    expect(promote.outputs).toMatchObject({ result: 'succeeded', 'exit-code': '0', 'deployment-id': d.outputs['deployment-id'] });
    expect(p.fakeState().weights).toEqual({ v2: 100 });
  });

  it('any other failure fails the step with zdd\'s exit code', () => {
    const bad = step({ command: 'deploy', strategy: 'nope', revision: 'v3' });
    expect(bad.code).toBe(2);
    expect(bad.outputs).toMatchObject({ result: 'error', 'exit-code': '2' });
  });

  it('a deploy that fails its checks and rolls back fails the step, and still writes result, exit-code and deployment id', () => {
    writeFileSync(failing.failFile, '');
    try {
      const failed = step({ command: 'deploy', revision: 'v4', strategy: 'canary' }, failing);
      expect(failed.code, failed.stdout).toBe(1);
      expect(failed.outputs).toMatchObject({ result: 'rolled-back', 'exit-code': '1' });
      expect(failed.outputs['deployment-id']).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
      expect(failed.stderr).toContain('::error title=zdd rolled-back::');
    } finally {
      rmSync(failing.failFile, { force: true });
    }
  });
});
