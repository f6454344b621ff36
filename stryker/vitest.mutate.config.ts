import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The test files of the module being mutated (set by stryker.config.mjs through scripts/mutate.mjs). */
const include = (process.env.ZDD_MUTATE_TESTS ?? '').split(',').filter(Boolean);

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: include.length ? include : ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
