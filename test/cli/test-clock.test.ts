import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

describe('the test clock can only be switched on by tests', () => {
  const projects: Project[] = [];
  afterAll(() => projects.forEach((p) => p.cleanup()));
  const project = (bake: string) => {
    const p = makeProject({ canarySteps: `[{ weight: 50, pause: '${bake}' }, { weight: 100 }]` });
    projects.push(p);
    return p;
  };

  it('ZDD_TEST_CLOCK=fast in the environment does not skip a bake', async () => {
    // A 3s bake: a lower bound on wall time holds however busy the machine is.
    const p = project('3s');
    const started = Date.now();
    const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { env: { ZDD_TEST_CLOCK: 'fast', ZDD_FAKE_CLOCK: '1' } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
  });

  it('the harness preload (node --import test/cli/fast-clock.mjs) does', async () => {
    // A 10-minute bake finishes well inside the 60s the harness allows a run.
    const p = project('10m');
    const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { fastClock: true, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('step 4/');
    expect(r.stdout).toContain('succeeded (exit 0)');
  }, 90_000);
});
