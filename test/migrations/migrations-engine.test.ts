import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import { createHarness, type Harness } from '../engine/engine-harness.js';

/**
 * Migration steps in the real engine (fake provider, fast fake clock, file state store): what a
 * contract failure does, and a delayed contract waiting on the injected clock.
 */
let h: Harness | undefined;
afterEach(() => {
  h?.cleanup();
  h = undefined;
});

const deploy = (harness: Harness) => harness.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });

describe('engine: migrations', () => {
  it('a failed contract never rolls back (the old revision is retired): the candidate keeps 100%, exit 4 naming the migration', async () => {
    h = createHarness({ config: { migrations: { expand: { command: 'echo ZDD_SCHEMA_VERSION=2' }, contract: { command: 'echo dropping >&2; exit 3', when: 'after-release' } } } });
    const outcome = await deploy(h);
    expect(outcome.exitCode).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toMatch(/Deployed v2: it serves 100% of production, but its contract migration failed: Migration contract .*-contract \(`echo dropping >&2; exit 3`\) exited with code 3[\s\S]*dropping/);
    expect(h.fakeState().weights).toEqual({ v2: 100 });
    const record = await h.latest();
    expect(record?.status).toBe('succeeded');
    expect(record?.migrations).toMatchObject({ schemaVersion: '2', expand: { state: 'done' }, contract: { state: 'failed' } });
  });

  it('a failed expand fails the deploy before the candidate starts: rolled back, exit 1', async () => {
    h = createHarness({ config: { migrations: { expand: { command: 'exit 7' } } } });
    const outcome = await deploy(h);
    expect(outcome.exitCode).toBe(ExitCode.RolledBack);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    expect(h.fakeState().revisions.v2).toBeUndefined();
    expect((await h.latest())?.migrations?.expand?.state).toBe('failed');
  });

  it('"1h after release" waits on the injected clock after retirement, then runs the contract', async () => {
    h = createHarness({ config: { migrations: { contract: { command: 'true', when: '1h after release' } } } });
    const started = h.clock.now();
    const outcome = await deploy(h);
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const contract = (await h.latest())?.migrations?.contract;
    expect(contract?.state).toBe('done');
    expect(Date.parse(contract!.startedAt!) - started).toBeGreaterThanOrEqual(3_600_000);
    expect(Date.parse(contract!.dueAt!)).toBeLessThanOrEqual(Date.parse(contract!.startedAt!));
  });

  it('blue-green keeping the old revision: the contract is left pending, `zdd contract` refuses (exit 2) until the old revision is retired', async () => {
    h = createHarness({
      config: {
        strategies: { 'blue-green': { bake: '10s', keepPrevious: '10m' } },
        migrations: { expand: { command: 'true' }, contract: { command: 'echo "$ZDD_MIGRATION_ID" > contracted', when: 'after-release' }, schemaVersion: '2' },
      },
    });
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'blue-green', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    const record = (await h.latest())!;
    expect(record.migrations?.contract?.state).toBe('pending');
    await expect(h.engine.contract({ lockWaitMs: 0 })).rejects.toMatchObject({ exitCode: ExitCode.Usage, message: expect.stringMatching(/the old revision v1 is still kept/) });
    expect((await h.latest())?.migrations?.contract?.state).toBe('pending');
    expect((await h.engine.retireDue({ now: true, lockWaitMs: 0 })).exitCode).toBe(ExitCode.Ok);
    const ran = await h.engine.contract({ lockWaitMs: 0 });
    expect(ran.exitCode).toBe(ExitCode.Ok);
    expect(ran.message).toMatch(/schema is on version 2 only/);
    expect((await h.latest())?.migrations?.contract).toMatchObject({ state: 'done', id: `${record.id}-contract` });
    expect((await h.engine.contract({ lockWaitMs: 0 })).message).toMatch(/already ran/);
  });
});
