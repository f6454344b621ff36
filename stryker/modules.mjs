/**
 * The promise-keeping modules `npm run mutate` mutates, each with the fast unit test files that
 * guard it (in-process tests only: e2e tests run the built binary, which Stryker never mutates).
 * A `file:from-to` entry mutates only those lines (the local router's weight and drain code).
 */
export const MUTATION_MODULES = [
  {
    name: 'lock-session',
    mutate: ['src/engine/lock-session.ts'],
    tests: ['test/engine/lock-session.test.ts', 'test/engine/engine-guards.test.ts'],
  },
  {
    // Split in two so each run stays well under 20 minutes on 2 cores: the runner and the step
    // kinds' handlers, then the pauses and bakes (steps/pause.ts).
    name: 'step-runner',
    mutate: [
      'src/engine/step-runner.ts',
      'src/engine/steps/index.ts',
      'src/engine/steps/step-kind.ts',
      'src/engine/steps/provision.ts',
      'src/engine/steps/scale.ts',
      'src/engine/steps/test-route.ts',
      'src/engine/steps/shift-traffic.ts',
      'src/engine/steps/gate.ts',
      'src/engine/steps/hook.ts',
      'src/engine/steps/migration.ts',
      'src/engine/steps/retire.ts',
    ],
    tests: ['test/engine/engine.test.ts', 'test/engine/engine-guards.test.ts', 'test/engine/step-runner.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    name: 'step-runner-pause',
    mutate: ['src/engine/steps/pause.ts'],
    tests: ['test/engine/engine.test.ts', 'test/engine/step-runner.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    name: 'rollback',
    mutate: ['src/engine/rollback.ts'],
    tests: ['test/engine/engine.test.ts', 'test/engine/engine-guards.test.ts', 'test/engine/step-runner.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    name: 'remote-requests',
    mutate: ['src/engine/remote-requests.ts'],
    tests: ['test/engine/remote-requests.test.ts'],
  },
  {
    name: 'stored-lock',
    mutate: ['src/state/stored-lock.ts'],
    tests: ['test/state/stored-lock.test.ts', 'test/state/file-state-store.test.ts', 'test/engine/lock-session.test.ts'],
  },
  {
    name: 'generation-files',
    mutate: ['src/state/generation-files.ts'],
    tests: ['test/state/generation-files.test.ts', 'test/state/file-state-store.test.ts'],
  },
  {
    name: 's3-lock',
    mutate: ['src/state/s3-lock-store.ts'],
    tests: ['test/aws/s3-state-store.test.ts'],
  },
  {
    name: 'secret-mask',
    mutate: ['src/core/secret-mask.ts'],
    tests: ['test/reporters/secret-mask.test.ts'],
  },
  {
    name: 'flag-step',
    mutate: ['src/flags/flag-step.ts', 'src/flags/flag-step-kind.ts'],
    tests: ['test/flags/flag-step.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    // The weighted pick, and in upstream-instances.ts apply (weights, draining instances) and release
    // (a draining instance's last request): line ranges, to update when those methods move.
    name: 'router-weights',
    mutate: ['src/providers/local/router/weighted-picker.ts', 'src/providers/local/router/upstream-instances.ts:39-68', 'src/providers/local/router/upstream-instances.ts:112-115'],
    tests: ['test/local/router-server.test.ts'],
  },
];
