/**
 * The promise-keeping modules `npm run mutate` mutates, each with the fast unit test files that
 * guard it (in-process tests only: e2e tests run the built binary, which Stryker never mutates).
 * A `file:from-to` entry mutates only those lines (the local router's weight and drain code).
 * `testTimeoutMs`: for test files that wait only on events (no real polls or sleeps), a short
 * vitest test timeout, so that a mutant which makes them wait forever fails in seconds instead of
 * hitting Stryker's timeout (and a restart of its test runner) each time.
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
    // Not engine.test.ts (deploys of every strategy failing at every step): with it a run took
    // 30 minutes, each surviving mutant paying for all of them. step-kinds-behaviour.test.ts and
    // pause-behaviour.test.ts drive each kind's branches through the engine in seconds;
    // observed-split.test.ts and observed-split-confirm.test.ts hold the engine tests that run
    // shift-traffic's observeSplit (and its second, confirming probe).
    tests: ['test/engine/step-kinds-behaviour.test.ts', 'test/engine/pause-behaviour.test.ts', 'test/engine/step-runner.test.ts', 'test/engine/engine-guards.test.ts', 'test/engine/observed-split.test.ts', 'test/engine/observed-split-confirm.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    name: 'step-runner-pause',
    mutate: ['src/engine/steps/pause.ts'],
    // Not engine.test.ts: its deploys of every strategy made each surviving mutant cost a minute;
    // pause-behaviour.test.ts drives every branch of the pause through the engine in 2 s.
    tests: ['test/engine/pause-behaviour.test.ts', 'test/engine/step-runner.test.ts', 'test/flags/flag-engine.test.ts'],
  },
  {
    // Split in two like the step runner: the failure handling and the rollback run (covered by
    // every engine test that fails a deploy, each a real deploy), then following a deploy that
    // another process runs (its own fast tests). Line ranges: update them when the functions move.
    name: 'rollback',
    mutate: ['src/engine/rollback.ts:1-147'],
    tests: ['test/engine/engine.test.ts', 'test/engine/engine-guards.test.ts', 'test/engine/step-runner.test.ts', 'test/flags/flag-engine.test.ts', 'test/engine/follow-abort.test.ts', 'test/engine/rollback-phase.test.ts'],
  },
  {
    name: 'rollback-follow',
    mutate: ['src/engine/rollback.ts:148-179'],
    tests: ['test/engine/follow-abort.test.ts', 'test/engine/follow-abort-deadline.test.ts'],
    testTimeoutMs: 8000,
  },
  {
    name: 'remote-requests',
    mutate: ['src/engine/remote-requests.ts'],
    tests: ['test/engine/remote-requests.test.ts'],
    testTimeoutMs: 3000,
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
    // The S3 store's lock (lock object, acquire, take-over, lease, the watchdog's fence): the records
    // and the S3 object calls are not the lock's promise.
    name: 's3-lock',
    mutate: ['src/state/s3-lock-store.ts'],
    // The fence's contract on S3 (s3-lock.contract.test.ts) waits about 4 s of S3's real clock per
    // stale lock (19 s a run); s3-lock-fence.test.ts keeps the same promises on zdd's injected clock.
    tests: ['test/aws/s3-state-store.test.ts', 'test/aws/s3-lock.test.ts', 'test/aws/s3-lock-fence.test.ts', 'test/aws/s3-lock-races.test.ts', 'test/aws/s3-lock-lost-answer.test.ts'],
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
    mutate: ['src/providers/local/router/weighted-picker.ts', 'src/providers/local/router/upstream-instances.ts:39-69', 'src/providers/local/router/upstream-instances.ts:113-116'],
    // router-server.test.ts starts the router's admin socket, which sets process.umask(): not
    // allowed in the worker threads Stryker's vitest runner uses. These tests drive the core alone.
    tests: ['test/local/router-weights.test.ts'],
    testTimeoutMs: 5000,
  },
];
