import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject } from '../cli/cli-harness.js';

/**
 * Preflight's third refusal through the built binary: a revision runs that no record names.
 * Fake provider (its state file plays the platform, so "someone started a revision by hand" is a
 * file edit); the local provider tests cover weights and a sick stable.
 */
describe('preflight: a revision no record names', () => {
  const p = makeProject({ fake: { failFile: undefined } });
  afterAll(() => p.cleanup());

  it('refuses with exit 2 naming the revision; --force proceeds and records it', async () => {
    const v2 = await p.run(['deploy', '--revision', 'v2'], { fastClock: true });
    expect(v2.code, v2.stdout).toBe(0);
    const file = join(p.dir, 'fake-state.json');
    const state = JSON.parse(readFileSync(file, 'utf8'));
    state.revisions.hotfix = { revision: { id: 'hotfix' }, desired: 1, running: true };
    writeFileSync(file, JSON.stringify(state));

    const r = await p.run(['deploy', '--revision', 'v3'], { fastClock: true });
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout).toContain('Revision hotfix runs (1 instance(s), 0% of traffic) but no deploy record names it');
    expect(p.fakeState().revisions.v3).toBeUndefined();

    const status = await p.run(['status', '--json'], { fastClock: true });
    expect(status.stdout).toContain('Revision hotfix runs');

    const forced = await p.run(['deploy', '--revision', 'v3', '--force', '--json'], { fastClock: true });
    expect(forced.code, forced.stdout).toBe(0);
    const record = JSON.parse(readFileSync(join(p.dir, '.zdd/web/latest.json'), 'utf8'));
    expect(record.forced.findings).toEqual([expect.stringContaining('Revision hotfix runs')]);
  });
});
