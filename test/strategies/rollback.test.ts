import { describe, expect, it } from 'vitest';
import type { HookPoint, PlanInput, Role, Step } from '../../src/index.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { rollbackPlan } from '../../strategies/plan-builders.js';
import { hook, planInput, provision, record, retire, scale, shift, testRoute } from './fixtures.js';
import { generateCases } from './generate-inputs.js';
import { checkRollbackEverywhere } from './plan-checks.js';

const back: Step = { kind: 'shiftTraffic', weights: { stable: 100, candidate: 0 } };
const empty: Step = { kind: 'shiftTraffic', weights: { stable: 0, candidate: 0 } };

describe('rollback plan from a record', () => {
  const base = { plan: [], stepIndex: 3, stable: true, healthy: ['stable', 'candidate'] as Role[], stableReplicasBefore: 3 };
  const cases: { name: string; rec: Parameters<typeof record>[0]; hooks?: HookPoint[]; stableReplicas?: number; steps: Step[] }[] = [
    {
      name: 'mid canary: traffic first, then the test route, then the candidate',
      rec: { ...base, healthy: ['stable', 'candidate'], weights: { stable: 50, candidate: 50 }, replicas: { stable: 3, candidate: 3 }, testRoute: 'candidate' },
      hooks: ['onRollback', 'preShift'],
      steps: [back, testRoute(null), hook('onRollback'), retire('candidate')],
    },
    {
      name: 'weights already on stable: the shift is still first (idempotent)',
      rec: { ...base, healthy: ['stable', 'candidate'], weights: { stable: 100, candidate: 0 }, replicas: { stable: 3, candidate: 3 }, testRoute: null },
      steps: [back, retire('candidate')],
    },
    {
      name: 'mid rolling: stable shrunk, traffic first, then stable grows back',
      rec: { ...base, healthy: ['stable', 'candidate'], weights: { stable: 33, candidate: 67 }, replicas: { stable: 1, candidate: 2 }, testRoute: null },
      steps: [back, scale('stable', 3), retire('candidate')],
    },
    {
      name: 'rolling at its last batch: stable has no instances, so it comes back healthy before any traffic',
      rec: { ...base, healthy: ['stable', 'candidate'], weights: { stable: 0, candidate: 100 }, replicas: { stable: 0, candidate: 3 }, testRoute: 'candidate' },
      hooks: ['onRollback'],
      steps: [scale('stable', 3), back, testRoute(null), hook('onRollback'), retire('candidate')],
    },
    {
      name: 'stable retired at the end of a canary: started again before any traffic',
      rec: {
        ...base,
        plan: [provision(3), shift(100), retire('stable')],
        stepIndex: 3,
        healthy: ['candidate'],
        weights: { stable: 0, candidate: 100 },
        replicas: { stable: 0, candidate: 3 },
        testRoute: null,
      },
      steps: [provision(3, 'stable'), back, retire('candidate')],
    },
    {
      name: 'the retire of stable was cut short: it may be half stopped, so it is provisioned again',
      rec: {
        ...base,
        plan: [provision(3), shift(100), retire('stable')],
        stepIndex: 2,
        inFlight: true,
        healthy: ['stable', 'candidate'],
        weights: { stable: 0, candidate: 100 },
        replicas: { stable: 3, candidate: 3 },
        testRoute: null,
      },
      steps: [provision(3, 'stable'), back, retire('candidate')],
    },
    {
      name: 'blue-green kept stable (retire with afterMs): still running, traffic first',
      rec: {
        ...base,
        plan: [provision(3), shift(100), retire('stable', 600_000)],
        stepIndex: 3,
        weights: { stable: 0, candidate: 100 },
        replicas: { stable: 3, candidate: 3 },
        testRoute: null,
      },
      steps: [back, retire('candidate')],
    },
    {
      name: 'a scale of stable to 0 was cut short: treated as 0 instances',
      rec: {
        ...base,
        plan: [provision(1), shift(100), scale('stable', 0), retire('stable')],
        stepIndex: 2,
        inFlight: true,
        weights: { stable: 0, candidate: 100 },
        replicas: { stable: 1, candidate: 1 },
        testRoute: null,
        stableReplicasBefore: 1,
      },
      stableReplicas: 1,
      steps: [scale('stable', 1), back, retire('candidate')],
    },
    {
      name: 'a test route step was cut short: the route is removed even though the record has none',
      rec: { ...base, plan: [provision(3), testRoute('candidate')], stepIndex: 1, inFlight: true, weights: { stable: 100, candidate: 0 }, replicas: { stable: 3, candidate: 3 }, testRoute: null },
      steps: [back, testRoute(null), retire('candidate')],
    },
    {
      name: 'first deploy: no stable, the candidate loses its weight and the router has no backend',
      rec: { ...base, stable: false, healthy: ['candidate'], weights: { stable: 0, candidate: 100 }, replicas: { stable: 0, candidate: 2 }, testRoute: 'candidate', stableReplicasBefore: 0 },
      hooks: ['onRollback'],
      stableReplicas: 0,
      steps: [testRoute(null), empty, hook('onRollback'), retire('candidate')],
    },
  ];

  it.each(cases)('$name', ({ rec, hooks, stableReplicas, steps }) => {
    const input = { record: record(rec), hooks: hooks ?? [], stableReplicas: stableReplicas ?? 3 };
    for (const [name, strategy] of Object.entries(BUILT_IN_STRATEGIES)) {
      expect(strategy.rollback(input)).toEqual({ strategy: name, steps });
    }
  });
});

describe.each(Object.keys(BUILT_IN_STRATEGIES))('%s rollback from every step', (name) => {
  const strategy = BUILT_IN_STRATEGIES[name];
  const generated = generateCases(60, 77).filter((c) => c.strategy === name && c.valid);
  const fixed = [planInput({ stable: 3, replicas: 3, gates: ['smoke', 'analysis'], hooks: ['onRollback', 'preShift'] }), planInput({ stable: 1, replicas: 1 }), planInput({ stable: 4, replicas: 2 }), planInput({ stable: null, replicas: 2, gates: ['smoke'] })];
  const inputs: PlanInput<any>[] = [...fixed.map((i) => ({ ...i, options: undefined })), ...generated.map((c) => c.input)];

  it(`is safe and complete at every step index (${inputs.length} plans)`, () => {
    let checked = 0;
    for (const input of inputs) checked += checkRollbackEverywhere(strategy, input);
    expect(checked).toBeGreaterThan(100);
  });

  it('uses the shared rollback builder', () => {
    const rec = record({ plan: [], stepIndex: 0, stable: true, weights: { stable: 90, candidate: 10 }, replicas: { stable: 2, candidate: 2 }, testRoute: null, healthy: ['stable', 'candidate'], stableReplicasBefore: 2 });
    const input = { record: rec, hooks: [] as HookPoint[], stableReplicas: 2 };
    expect(strategy.rollback(input).steps).toEqual(rollbackPlan(name, input).steps);
  });
});
