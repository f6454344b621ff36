import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { buildPlan } from '../../src/engine/planning.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { generateCases } from './generate-inputs.js';
import { checkDeployPlan } from './plan-checks.js';

const CASES_PER_STRATEGY = 400;
const cases = generateCases(CASES_PER_STRATEGY);

describe.each(Object.keys(BUILT_IN_STRATEGIES))('invariants of %s plans', (strategy) => {
  const mine = cases.filter((c) => c.strategy === strategy);

  it(`holds for ${CASES_PER_STRATEGY} generated inputs`, () => {
    const valid = mine.filter((c) => c.valid);
    // The generator must exercise the interesting shapes, or this test proves little.
    expect(valid.length).toBeGreaterThan(CASES_PER_STRATEGY / 2);
    expect(valid.filter((c) => c.input.stable === null).length).toBeGreaterThan(10);
    for (const c of valid) {
      try {
        checkDeployPlan(BUILT_IN_STRATEGIES[strategy], c.input);
      } catch (e) {
        throw new Error(`${strategy} with ${JSON.stringify(c.input)}:\n${(e as Error).message}`);
      }
    }
  });

  const invalid = mine.filter((x) => !x.valid);
  // canary and linear accept every generated option (the schema already refused the bad ones).
  it.skipIf(invalid.length === 0)('planning refuses options its validate() rejects with a ConfigError, before plan() runs', () => {
    for (const c of invalid) {
      const s = BUILT_IN_STRATEGIES[strategy];
      const deps = {
        config: { service: 'web', provider: { type: 'custom' }, replicas: c.input.replicas, strategies: { [strategy]: c.input.options }, gates: Object.fromEntries(c.input.gates.map((g) => [g, { checks: [] }])) },
        provider: { name: 'fake', capabilities: c.input.capabilities },
      } as unknown as Parameters<typeof buildPlan>[0];
      const plan = vi.spyOn(s, 'plan');
      expect(() => buildPlan(deps, s, { stable: c.input.stable, others: [] }, c.input.candidate), JSON.stringify(c.input.options)).toThrow(ConfigError);
      expect(plan).not.toHaveBeenCalled();
      plan.mockRestore();
    }
  });
});
