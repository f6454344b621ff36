import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Strategy } from '../../src/index.js';
import { writeDocsPlugin } from './docs-plugin.js';
import { manual, planInput, provision, retire, shift } from './fixtures.js';
import { generateCases } from './generate-inputs.js';
import { checkDeployPlan, checkRollbackEverywhere } from './plan-checks.js';

/** The example in docs/strategies.md keeps every promise the built-ins keep. */
describe('docs plugin example (approveThenSwitch)', async () => {
  const { dir, file } = writeDocsPlugin();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { approveThenSwitch } = (await import(file)) as { approveThenSwitch: (o?: { weight?: number }) => Strategy };
  const strategy = approveThenSwitch({ weight: 10 });
  // Reuse the generated sizes, hooks, gates and capabilities; the plugin ignores options.
  const inputs = generateCases(80, 5).filter((c) => c.strategy === 'canary').map((c) => ({ ...c.input, options: {} }));

  it('plans a slice, a wait for promote, then the switch', () => {
    expect(strategy.plan(planInput({ stable: 2, replicas: 2 }))).toEqual({ strategy: 'approve-then-switch', steps: [provision(2), shift(10), manual, shift(100), retire('stable')] });
  });

  it('keeps the deploy invariants on generated inputs', () => {
    for (const input of inputs) checkDeployPlan(strategy, input);
    expect(inputs.length).toBeGreaterThan(50);
  });

  it('rolls back safely from every step', () => {
    let checked = 0;
    for (const input of inputs) checked += checkRollbackEverywhere(strategy, input);
    expect(checked).toBeGreaterThan(500);
  });

  it('validate names the option and the fix', () => {
    expect(approveThenSwitch({ weight: 0 }).validate!({}, { replicas: 1, capabilities: planInput({}).capabilities })).toEqual([
      { path: 'weight', message: expect.stringContaining('approveThenSwitch({ weight: 5 })') },
    ]);
  });
});
