import { afterEach, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

const MANUAL = '[{ weight: 20, pause: {} }, { weight: 100 }]';
const ROUNDS = 3;

describe('two `zdd rollback`s at once after a crashed deploy (through the binary)', { timeout: 120_000 }, () => {
  let p: Project | undefined;
  afterEach(() => {
    p?.cleanup();
    p = undefined;
  });

  it('exactly one takes over and rolls back; production ends on stable; neither needs a person', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      p = makeProject({ canarySteps: MANUAL });
      const deploy = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
      await deploy.waitFor(/paused: /);
      deploy.child.kill('SIGKILL');
      await deploy.done;

      const [a, b] = await Promise.all([p.run(['rollback'], { fastClock: true }), p.run(['rollback'], { fastClock: true })]);
      const out = `round ${round}\n--- a (exit ${a.code}):\n${a.stdout}${a.stderr}\n--- b (exit ${b.code}):\n${b.stdout}${b.stderr}`;
      // Both may try ("Taking over the lock …" is said before the attempt): exactly one gets it, the
      // other loses the compare-and-swap (exit 3) or finds the winner live and follows it.
      const takers = [a, b].filter((r) => r.stdout.includes('Taking over the lock') && r.code !== 3);
      expect(takers, out).toHaveLength(1);
      expect(takers[0].stdout, out).toContain('rolled-back (exit 0)');
      for (const r of [a, b]) expect([0, 3], out).toContain(r.code);
      expect(p.fakeState().weights, out).toEqual({ v1: 100 });
      expect((await p.run(['lock', 'status'])).stdout).toContain('is free');
      p.cleanup();
      p = undefined;
    }
  });
});
