import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { LockHolderInfo } from '../../src/core/errors.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { currentHolder, forgetToken } from '../../src/state/lock-holder.js';
import { createHarness, type Harness } from './engine-harness.js';

/**
 * `zdd rollback` / `zdd abort` while another live process runs the deploy: the command asks it to
 * abort through the request channel, then follows its record and reports how it ended, finishing
 * the rollback itself only when that process is gone.
 */
let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

function running(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  const plan = [{ kind: 'shiftTraffic' as const, weights: { stable: 80, candidate: 20 } }, { kind: 'pause' as const }];
  const by = { ...currentHolder('deploy', Date.now()), host: 'ci-runner-3' };
  const record = newRecord({ id: 'd1', service: 'web', strategy: 'canary', stable: { revision: { id: 'v1' }, replicas: 2 }, candidate: { id: 'v2' }, plan, by, now: Date.now() });
  return { ...record, status: 'running', weights: { stable: 80, candidate: 20 }, ...over };
}

/** The lock as another live process holds it for deploy d1 (this process, its token forgotten: alive, not ours). */
async function heldElsewhere(harness: Harness): Promise<LockHolderInfo> {
  const holder = { ...currentHolder('deploy', Date.now()), deploymentId: 'd1' };
  const lease = await harness.store.lock.acquire('web', holder, { waitMs: 0 });
  forgetToken(lease.token);
  // That process is alive: it heartbeats before anyone looks at its lock, whatever the clock says.
  const inspect = harness.store.lock.inspect.bind(harness.store.lock);
  harness.store.lock.inspect = async (service) => {
    await lease.heartbeat().catch(() => undefined);
    return inspect(service);
  };
  return (await inspect('web'))!.holder;
}

/** Resolves when the command says it asked the deploy to abort and now waits for it. */
function waiting(harness: Harness): Promise<void> {
  return new Promise((resolve) => harness.bus.on((e) => e.type === 'info' && e.message.startsWith('Asked deploy d1') && resolve()));
}

async function follow(harness: Harness, record: DeploymentRecord) {
  await harness.store.records.save(record);
  const holder = await heldElsewhere(harness);
  return harness.engine.rollback({ abortOnly: true, lockWaitMs: 0, asked: { deploymentId: 'd1', holder } });
}

describe('following a deploy another process runs, after asking it to abort', () => {
  it('asks through the request channel (the record is never rewritten), then reports its rollback', async () => {
    h = createHarness();
    const harness = h;
    await harness.store.records.save(running());
    await heldElsewhere(harness);
    const asked = waiting(harness);
    const outcome = harness.engine.rollback({ abortOnly: true, lockWaitMs: 0 });
    await asked;
    expect((await harness.store.records.requests('web', 'd1')).abort).toBeDefined();
    expect((await harness.latest())?.status).toBe('running');
    // The other process rolls back and writes its record.
    await harness.store.records.save(running({ status: 'rolled-back', weights: { stable: 100, candidate: 0 } }));
    expect(await outcome).toMatchObject({ result: 'rolled-back', exitCode: ExitCode.Ok, message: 'Deploy d1 aborted and rolled back: production on stable v1.' });
    expect(harness.events.find((e) => e.type === 'info' && e.message.startsWith('Asked deploy d1'))).toMatchObject({
      message: expect.stringContaining(`(pid ${process.pid} on `),
    });
  });

  it('a release that rolled back says which flags are as before it', async () => {
    h = createHarness();
    const off = { enabled: false, rollout: null, stickiness: 'default', constraints: [] };
    const flags = { checkout: { before: off, last: off }, search: { before: { ...off, enabled: true } } } as unknown as DeploymentRecord['flags'];
    const outcome = await follow(h, running({ strategy: 'flag-release', status: 'rolled-back', flags }));
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(outcome.message).toBe('Release d1 aborted and rolled back: flag "checkout" off, flag "search" unchanged (as before the release, read back).');
  });

  it('a rollback that failed there is a rollback failure here: a person must act', async () => {
    h = createHarness();
    const outcome = await follow(h, running({ status: 'rollback-failed', error: { message: 'router down', code: 'provider', step: 0 } }));
    expect(outcome).toMatchObject({ result: 'rollback-failed', exitCode: ExitCode.NeedsPerson });
    expect(outcome.message).toContain('ROLLBACK FAILED for web');
  });

  it('a deploy that finished before the abort arrived: run zdd rollback again to restore stable', async () => {
    h = createHarness();
    const outcome = await follow(h, running({ status: 'succeeded' }));
    expect(outcome).toMatchObject({ result: 'succeeded', exitCode: ExitCode.Ok, message: 'Deploy d1 finished before the abort arrived; run `zdd rollback` again to restore v1.' });
    h.cleanup();
    h = createHarness();
    const release = await follow(h, running({ status: 'succeeded', strategy: 'flag-release' }));
    expect(release.message).toBe('Release d1 finished before the abort arrived; run `zdd rollback` again to restore its flags as before it.');
  });

  it('a deploy that stopped without rollback (--no-rollback) says where traffic is', async () => {
    h = createHarness();
    const outcome = await follow(h, running({ status: 'failed' }));
    expect(outcome).toMatchObject({ result: 'failed', exitCode: ExitCode.NeedsPerson, message: 'Deploy d1 stopped without rollback: stable v1 80% | candidate v2 20%' });
  });

  it('a newer run in the record meanwhile: say so, do nothing', async () => {
    h = createHarness();
    const harness = h;
    const asked = waiting(harness);
    const outcome = follow(harness, running());
    await asked;
    await harness.store.records.save(running({ id: 'd2' }));
    expect(await outcome).toMatchObject({ result: 'error', exitCode: ExitCode.NeedsPerson, message: 'The deployment record changed while waiting for the abort; run `zdd status`.' });
    expect(harness.fakeState().calls.filter((c) => c.method === 'setWeights')).toEqual([]);
  });

  it('a process that never acknowledges: after 10 minutes (on the injected clock), name it and stop waiting', async () => {
    h = createHarness();
    const harness = h;
    const asked = waiting(harness);
    const outcome = follow(harness, running());
    await asked;
    await harness.clock.advance(10 * 60_000 + 1);
    const result = await outcome;
    expect(result).toMatchObject({ result: 'error', exitCode: ExitCode.NeedsPerson, message: 'Deploy d1 did not acknowledge the abort within 10 minutes (stable v1 80% | candidate v2 20%)' });
    expect(result.hint).toBe(`Check process ${process.pid} on ${(await harness.store.lock.inspect('web'))!.holder.host}.`);
  });

  it('a process that is gone (the lock let go) has its rollback finished here: stable gets all traffic', async () => {
    h = createHarness();
    const harness = h;
    const asked = waiting(harness);
    const outcome = follow(harness, running());
    await asked;
    await harness.store.lock.forceRelease('web');
    const result = await outcome;
    expect(result.exitCode).toBe(ExitCode.Ok);
    expect((await harness.latest())?.status).toBe('rolled-back');
    expect(harness.fakeState().weights).toEqual({ v1: 100 });
  });
});
