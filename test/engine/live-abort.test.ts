import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { askLiveDeployToAbort } from '../../src/engine/live-abort.js';
import { FileStateStore } from '../../src/state/file-state-store.js';
import { currentHolder, forgetToken } from '../../src/state/lock-holder.js';

/**
 * The incident path's early abort request (before the engine loads) must decide exactly as the
 * engine does: only a deploy that another live process runs is asked; everything else is left to
 * the engine, and nothing is written.
 */
let dir: string;
let store: FileStateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zdd-live-abort-'));
  store = new FileStateStore(dir, systemClock);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  const plan = [{ kind: 'shiftTraffic' as const, weights: { stable: 90, candidate: 10 } }, { kind: 'pause' as const }];
  const by = currentHolder('deploy', Date.now());
  return { ...newRecord({ id: 'd1', service: 'web', strategy: 'canary', stable: { revision: { id: 'v1' }, replicas: 2 }, candidate: { id: 'v2' }, plan, by, now: Date.now() }), status: 'running', ...over };
}

/** The lock as another live process holds it for `deploymentId` (this process, its token forgotten: alive, not ours). */
async function heldElsewhere(deploymentId: string): Promise<void> {
  const lease = await store.lock.acquire('web', { ...currentHolder('deploy', Date.now()), deploymentId }, { waitMs: 0 });
  forgetToken(lease.token);
}

describe('the early abort request of zdd rollback / zdd abort', () => {
  it('asks a deploy another live process runs to abort, naming that process', async () => {
    await store.records.save(run());
    await heldElsewhere('d1');
    const asked = await askLiveDeployToAbort(store, 'web', systemClock);
    expect(asked).toMatchObject({ deploymentId: 'd1', holder: { pid: process.pid } });
    expect((await store.records.requests('web', 'd1')).abort).toBeDefined();
  });

  it('leaves to the engine (writes nothing) a restore, a settled record, a free lock, or a lock of another run', async () => {
    const cases: [string, DeploymentRecord, string | null][] = [
      ['a live restore (aborting it would put back what the operator is leaving)', run({ kind: 'restore', strategy: 'restore-previous' }), 'd1'],
      ["an older zdd's restore (no kind)", run({ strategy: 'restore-previous' }), 'd1'],
      ['a finished deploy', run({ status: 'succeeded' }), 'd1'],
      ['a crashed deploy (nobody holds the lock)', run(), null],
      ['a lock held for another run', run(), 'd0'],
    ];
    for (const [what, record, lockFor] of cases) {
      await store.lock.forceRelease('web');
      await store.records.save(record);
      if (lockFor) await heldElsewhere(lockFor);
      expect(await askLiveDeployToAbort(store, 'web', systemClock), what).toBeUndefined();
      expect(await store.records.requests('web', 'd1'), what).toEqual({});
    }
  });
});
