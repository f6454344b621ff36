import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, ROOT, ZDD_BIN, FAST_CLOCK_ARGS } from '../cli/cli-harness.js';

/**
 * The composite action's zdd step (action.yml), run by bash as a runner would, against the built
 * binary and a fake-provider project. GitHub's own parts (setup-node, the runner) cannot run here;
 * the script that turns inputs into arguments and the result into outputs can.
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
  afterAll(() => p.cleanup());

  function step(inputs: Record<string, string>): { code: number | null; outputs: Record<string, string>; stdout: string } {
    const temp = mkdtempSync(join(p.dir, 'runner-'));
    const output = join(temp, 'output');
    writeFileSync(output, '');
    const env: Record<string, string> = { ...(process.env as Record<string, string>), NODE_OPTIONS: FAST_CLOCK_ARGS.join(' '), ZDD_BIN, RUNNER_TEMP: temp, GITHUB_OUTPUT: output, GITHUB_RUN_ID: '1', GITHUB_RUN_ATTEMPT: '1' };
    for (const k of ['CI', 'GITHUB_ACTIONS', 'GITHUB_STEP_SUMMARY']) delete env[k];
    for (const name of ['COMMAND', 'CONFIG', 'REVISION', 'IMAGE', 'STRATEGY', 'ENV', 'UNTIL_PAUSE', 'ARGS']) env[`INPUT_${name}`] = inputs[name.toLowerCase()] ?? '';
    const r = spawnSync('bash', ['-c', zddStepScript()], { cwd: p.dir, env, encoding: 'utf8', timeout: 60_000 });
    const outputs = Object.fromEntries(readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => l.split(/=(.*)/s).slice(0, 2)));
    return { code: r.status, outputs, stdout: r.stdout };
  }

  it('deploy with until-pause: the step succeeds with result "paused", exit-code 6 and the deployment id; promote then finishes it', () => {
    const d = step({ command: 'deploy', revision: 'v2', until_pause: 'true' });
    expect(d.code, d.stdout).toBe(0);
    expect(d.outputs).toMatchObject({ result: 'paused', 'exit-code': '6' });
    expect(d.outputs['deployment-id']).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });

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
});
