import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Load tests and real servers share two cores: keep parallelism modest and honest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
