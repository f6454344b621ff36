// @ts-check
/**
 * Stryker mutation testing, one module at a time: `npm run mutate` (scripts/mutate.mjs) sets
 * ZDD_MUTATE_MODULE and runs this config once per module of stryker/modules.mjs.
 * Concurrency 1 unless ZDD_MUTATE_CONCURRENCY says otherwise: a run is sized for a shared 2-core machine.
 */
import { MUTATION_MODULES } from './stryker/modules.mjs';

const name = process.env.ZDD_MUTATE_MODULE;
const module = MUTATION_MODULES.find((m) => m.name === name);
if (!module) throw new Error(`ZDD_MUTATE_MODULE must name one of ${MUTATION_MODULES.map((m) => m.name).join(', ')}; run \`npm run mutate\``);

// The test runner's vitest config (stryker/vitest.mutate.config.ts) runs only these files;
// ZDD_MUTATE_ONLY_TESTS (comma-separated) replaces them, to measure what some test files alone kill.
process.env.ZDD_MUTATE_TESTS = process.env.ZDD_MUTATE_ONLY_TESTS || module.tests.join(',');
if (module.testTimeoutMs) process.env.ZDD_MUTATE_TEST_TIMEOUT_MS = String(module.testTimeoutMs);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'stryker/vitest.mutate.config.ts', related: false },
  mutate: module.mutate,
  coverageAnalysis: 'perTest',
  // 1 by default: the machine is shared. On a quiet machine of your own, ZDD_MUTATE_CONCURRENCY=2.
  concurrency: Number(process.env.ZDD_MUTATE_CONCURRENCY ?? 1),
  // The engine's tests run real hooks and gates (child processes): give a mutant room before "timeout".
  timeoutMS: 10_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${module.name}.html` },
  jsonReporter: { fileName: `reports/mutation/${module.name}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'reports', 'coverage', '.zdd', 'bench', 'examples'],
};
