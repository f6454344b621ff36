import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeProject, type Project } from './cli-harness.js';

const MANUAL = '[{ weight: 20, pause: {} }, { weight: 100 }]';

/** The file that holds the current lock, however the file store lays it out. */
function currentLockFile(p: Project): string {
  const dir = join(p.dir, '.zdd', 'web', 'lock');
  if (!existsSync(dir)) return join(p.dir, '.zdd', 'web', 'lock.json');
  const gens = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n)).sort();
  return join(dir, gens.at(-1)!);
}

/** A deploy parked at a manual pause, killed with SIGKILL: it leaves its lock and a running record. */
async function crashedDeploy(p: Project): Promise<void> {
  const run = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
  await run.waitFor(/paused: /);
  run.child.kill('SIGKILL');
  await run.done;
}

describe('a corrupt or empty lock or record file (through the binary)', () => {
  let p: Project | undefined;
  afterEach(() => {
    p?.cleanup();
    p = undefined;
  });

  for (const [what, body] of [['corrupt', '{"holder": {"who": "ci", "ho'], ['empty', '']] as const) {
    it(`${what === 'empty' ? 'an' : 'a'} ${what} lock file is reported with its path and the fix; \`zdd lock release --force\` removes it`, async () => {
      p = makeProject({ canarySteps: MANUAL });
      await crashedDeploy(p);
      const file = currentLockFile(p);
      writeFileSync(file, body);

      const status = await p.run(['lock', 'status']);
      expect(status.code).toBe(2);
      expect(status.stdout).toContain(`Lock file ${file} ${what === 'empty' ? 'is empty' : 'is not valid JSON'}`);
      expect(status.stdout).toContain('zdd lock release --force');

      const deploy = await p.run(['deploy', '--revision', 'v3']);
      expect(deploy.code).toBe(2);
      expect(deploy.stdout).toContain(`Lock file ${file}`);

      const release = await p.run(['lock', 'release', '--force']);
      expect(release.code, release.stdout + release.stderr).toBe(0);
      expect(release.stdout).toContain('Released the lock of web (it was damaged');
      expect((await p.run(['lock', 'status'])).stdout).toContain('is free');

      // And the way back works: the crashed deploy is rolled back.
      const rollback = await p.run(['rollback'], { fastClock: true });
      expect(rollback.code, rollback.stdout).toBe(0);
      expect(p.fakeState().weights).toEqual({ v1: 100 });
    });
  }

  it('an empty latest.json is reported with its path and how to restore it from records/', async () => {
    p = makeProject({ canarySteps: MANUAL });
    await crashedDeploy(p);
    const latest = join(p.dir, '.zdd', 'web', 'latest.json');
    writeFileSync(latest, '');
    const status = await p.run(['status']);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain(`State file ${latest} is empty`);
    expect(status.stdout).toContain('copy of the newest record in the records/ folder');
    const rollback = await p.run(['rollback']);
    expect(rollback.code).toBe(2);
    expect(rollback.stdout).toContain(`State file ${latest} is empty`);
  });

  it('a record that is JSON but not a record (`null`) is reported, not taken for "never deployed"', async () => {
    p = makeProject({ canarySteps: MANUAL });
    await crashedDeploy(p);
    const latest = join(p.dir, '.zdd', 'web', 'latest.json');
    writeFileSync(latest, 'null');
    const status = await p.run(['status']);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain(`State file ${latest} is valid JSON but not what zdd wrote there`);
  });
});
