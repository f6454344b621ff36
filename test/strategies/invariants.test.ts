import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
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

  it('refuses options its validate() rejects, with a ConfigError', () => {
    for (const c of mine.filter((x) => !x.valid)) {
      expect(() => BUILT_IN_STRATEGIES[strategy].plan(c.input)).toThrow(ConfigError);
    }
  });
});
