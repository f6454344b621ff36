import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

// A 3s bake: long enough to tell "waited" from "skipped" on a busy machine, short enough to sit through once.
const BAKE_MS = 3_000;

describe('the test clock can only be switched on by tests', () => {
  const projects: Project[] = [];
  afterAll(() => projects.forEach((p) => p.cleanup()));
  const project = (bake = `${BAKE_MS / 1000}s`) => {
    const p = makeProject({ canarySteps: `[{ weight: 50, pause: '${bake}' }, { weight: 100 }]` });
    projects.push(p);
    return p;
  };

  it('ZDD_TEST_CLOCK=fast in the environment does not skip a bake', async () => {
    const p = project();
    const started = Date.now();
    const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { env: { ZDD_TEST_CLOCK: 'fast', ZDD_FAKE_CLOCK: '1' } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(BAKE_MS);
  });

  it('the harness preload (node --import test/cli/fast-clock.mjs) does', async () => {
    // A 6-hour bake: the deploy can only finish within the test's timeout if the clock is fast.
    const p = project('6h');
    const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { fastClock: true });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('succeeded (exit 0)');
  });
});
