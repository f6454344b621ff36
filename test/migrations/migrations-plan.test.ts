import { describe, expect, it } from 'vitest';
import { migrationsSchema } from '../../src/config/migrations-schema.js';
import type { Step } from '../../src/core/plan.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { contractGuard, withMigrations } from '../../src/engine/migrations.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { initialWorld, simulate } from '../strategies/plan-simulator.js';
import { planInput } from '../strategies/fixtures.js';

const expand: Step = { kind: 'migration', phase: 'expand' };
const config = (when?: string) => migrationsSchema.parse({ expand: { command: 'migrate up' }, contract: { command: 'migrate contract', ...(when ? { when } : {}) } });

describe('migrations config', () => {
  it.each([
    ['after-release', { afterMs: 0 }],
    ['30m after release', { afterMs: 1_800_000 }],
    ['manual', { manual: true }],
  ])('when %s', (when, parsed) => {
    expect(config(when).contract?.when).toEqual(parsed);
  });

  it('a when it cannot read names the forms it can', () => {
    const r = migrationsSchema.safeParse({ contract: { command: 'x', when: 'tomorrow' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toMatch(/"after-release", "<duration> after release".*"manual", got "tomorrow"/);
  });
});

describe('migration steps in every built-in plan', () => {
  for (const [name, strategy] of Object.entries(BUILT_IN_STRATEGIES)) {
    it(`${name}: expand before any traffic, contract only once stable is retired`, () => {
      const input = planInput({ hooks: ['preDeploy', 'postProvision'], gates: ['smoke', 'analysis'], stable: 2, replicas: 2 });
      const steps = withMigrations(strategy.plan(input as never).steps, config('after-release'), true);
      // The simulator fails a plan whose expand comes after the candidate got traffic, or whose contract runs beside stable.
      simulate(initialWorld(2), steps, { phase: 'deploy' });
      expect(steps.filter((s) => s.kind === 'migration')).toHaveLength(2);
      const firstNonHook = steps.findIndex((s) => s.kind !== 'hook');
      expect(steps[firstNonHook]).toEqual(expand);
    });
  }

  it('canary: contract right after stable is retired; a delay and manual are kept in the step', () => {
    const input = planInput({ stable: 2, replicas: 2 });
    const plain = BUILT_IN_STRATEGIES.canary.plan(input as never).steps;
    for (const [when, step] of [
      ['after-release', { kind: 'migration', phase: 'contract' }],
      ['1h after release', { kind: 'migration', phase: 'contract', afterMs: 3_600_000 }],
      ['manual', { kind: 'migration', phase: 'contract', manual: true }],
    ] as const) {
      const steps = withMigrations(plain, config(when), true);
      expect(steps.at(-1)).toEqual(step);
      expect(steps.at(-2)).toEqual({ kind: 'retire', role: 'stable' });
    }
  });

  it('blue-green keeping stable: the contract cannot run in the deploy, it is left pending for zdd contract', () => {
    const steps = withMigrations(BUILT_IN_STRATEGIES['blue-green'].plan(planInput({ stable: 2 }) as never).steps, config('after-release'), true);
    expect(steps.at(-1)).toEqual({ kind: 'migration', phase: 'contract', manual: true });
  });

  it('a first deploy has no old revision: expand only', () => {
    const steps = withMigrations(BUILT_IN_STRATEGIES.canary.plan(planInput({ stable: null }) as never).steps, config('after-release'), false);
    expect(steps.filter((s) => s.kind === 'migration')).toEqual([expand]);
  });
});

describe('rollback guard', () => {
  const rec = (id: string, candidate: string, stable: string | null, schemaVersion: string | undefined, contract?: 'done' | 'pending', expanded = true): DeploymentRecord =>
    ({
      id,
      candidate: { id: candidate },
      stable: stable ? { id: stable } : null,
      migrations: { schemaVersion, ...(expanded ? { expand: { id: `${id}-expand`, command: 'up', state: 'done' } } : {}), ...(contract ? { contract: { id: `${id}-contract`, command: 'drop old', state: contract, endedAt: 't' } } : {}) },
    }) as DeploymentRecord;
  const events = { emit: () => undefined };

  it('before any contract, every revision may come back', () => {
    expect(() => contractGuard({ events }, [rec('d2', 'v2', 'v1', '2', 'pending'), rec('d1', 'v1', null, '1')], 'v1', false)).not.toThrow();
  });

  it('after a contract, a revision on the older schema is refused with exit 2 and what to do', () => {
    const history = [rec('d2', 'v2', 'v1', '2', 'done'), rec('d1', 'v1', null, '1')];
    let err: any;
    try {
      contractGuard({ events }, history, 'v1', false);
    } catch (e) {
      err = e;
    }
    expect(err?.exitCode).toBe(2);
    expect(err.message).toMatch(/v1: it needs schema 1.*contract migration d2-contract/);
    expect(err.hint).toMatch(/--force/);
    expect(() => contractGuard({ events }, history, 'v1', true)).not.toThrow();
  });

  it('a revision on the contracted schema, or one whose schema was expanded again since, may come back', () => {
    const history = [rec('d3', 'v3', 'v2', '3'), rec('d2', 'v2', 'v1', '2', 'done'), rec('d1', 'v1', null, '1')];
    expect(() => contractGuard({ events }, history, 'v2', false)).not.toThrow();
    expect(() => contractGuard({ events }, [rec('d3', 'v1b', 'v2', '1'), ...history.slice(1)], 'v1b', false)).not.toThrow();
  });
});

describe('schema versions in zdd history and zdd status', () => {
  it('history has a SCHEMA column (with the contract) once a release recorded one, and none before', async () => {
    const { renderHistory, toRelease } = await import('../../src/report/release-history.js');
    const base = { service: 'web', strategy: 'canary', status: 'succeeded', by: { who: 'me', host: 'h' }, startedAt: '2026-12-04T00:00:00Z', plan: [] };
    const v1 = { ...base, id: 'd1', candidate: { id: 'v1' }, stable: null } as unknown as DeploymentRecord;
    expect(renderHistory('web', [toRelease(v1)])).not.toContain('SCHEMA');
    const v2 = { ...base, id: 'd2', candidate: { id: 'v2' }, stable: { id: 'v1' }, migrations: { schemaVersion: '2', contract: { id: 'd2-contract', command: 'x', state: 'pending' } } } as unknown as DeploymentRecord;
    const text = renderHistory('web', [toRelease(v2), toRelease(v1)]);
    expect(text.split('\n')[0]).toMatch(/^ID\s+REVISION\s+SCHEMA\s+IMAGE/);
    expect(text).toMatch(/d2\s+v2\s+2 \(contract pending\)/);
    expect(text).toMatch(/d1\s+v1\s+—/);
  });
});
