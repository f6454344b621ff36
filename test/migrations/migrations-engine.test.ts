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
});
