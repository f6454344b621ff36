import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The test files of the module being mutated (set by stryker.config.mjs through scripts/mutate.mjs). */
const include = (process.env.ZDD_MUTATE_TESTS ?? '').split(',').filter(Boolean);
/** A module whose tests wait only on events sets a short one (stryker/modules.mjs `testTimeoutMs`): a mutant that hangs them fails fast instead of timing out. */
const testTimeout = Number(process.env.ZDD_MUTATE_TEST_TIMEOUT_MS || 60_000);

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: include.length ? include : ['test/**/*.test.ts'],
    testTimeout,
    hookTimeout: 60_000,
  },
});
