import { afterEach, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { newRecord } from '../../src/engine/deployment-record.js';
import { currentHolder, forgetToken } from '../../src/state/lock-holder.js';
import { createHarness, type Harness } from './engine-harness.js';

/**
 * `zdd rollback` following a deploy another live process rolls back gives it ten minutes on the
 * injected clock — ten, not less: a rollback that ends at the ten-minute mark is still reported as
 * done (test/engine/follow-abort.test.ts has the rest of following an abort).
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

it('a deploy that finishes its rollback at the ten-minute mark is reported rolled back, not as one that never acknowledged', async () => {
  h = createHarness();
  const harness = h;
  await harness.store.records.save(running());
  // The other process: alive (it heartbeats before anyone reads its lock), not this command.
  const lease = await harness.store.lock.acquire('web', { ...currentHolder('deploy', Date.now()), deploymentId: 'd1' }, { waitMs: 0 });
  forgetToken(lease.token);
  const inspect = harness.store.lock.inspect.bind(harness.store.lock);
  harness.store.lock.inspect = async (service) => {
    await lease.heartbeat().catch(() => undefined);
    return inspect(service);
  };
  const holder = (await inspect('web'))!.holder;
  let polls = 0;
  const latest = harness.store.records.latest.bind(harness.store.records);
  const tenMinutesIn = new Promise<void>((resolve) => {
    harness.store.records.latest = async (service) => {
      // The command's own read first, then the follow loop's first: ten minutes have passed by then.
      if (++polls === 2) {
        await harness.clock.advance(10 * 60_000);
        resolve();
      }
      return latest(service);
    };
  });
  const outcome = harness.engine.rollback({ abortOnly: true, lockWaitMs: 0, asked: { deploymentId: 'd1', holder } });
  await tenMinutesIn;
  await harness.store.records.save(running({ status: 'rolled-back', weights: { stable: 100, candidate: 0 } }));
  expect(await outcome).toMatchObject({ result: 'rolled-back', exitCode: ExitCode.Ok });
});
