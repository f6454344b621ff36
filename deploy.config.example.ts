import { defineConfig } from 'zdd';

/**
 * A complete zdd config: a web service on the local provider, with a smoke gate before traffic,
 * metric analysis during every bake, hooks, and a staging environment. `zdd validate` checks it;
 * `zdd plan --strategy canary` shows the steps a deploy would run.
 */
export default defineConfig({
  service: 'web',

  provider: {
    type: 'local',
    // One instance of the app; PORT, ZDD_REVISION and ZDD_SERVICE are set for it.
    command: 'node examples/local/app.mjs',
    port: Number(process.env.PORT ?? 8080),
    health: { path: '/health' },
    // Requests with this header reach the candidate before it has production weight.
    testRoute: { header: 'X-Canary', value: 'always' },
  },

  replicas: 2,
  drain: '5s',
  health: { timeout: '60s' },

  strategies: {
    default: 'canary',
    canary: {
      steps: [
        { weight: 10, pause: '1m' },
        { weight: 25, pause: '1m' },
        { weight: 50, pause: 'manual' }, // a person runs `zdd promote` here
        { weight: 100 },
      ],
      analysis: ['analysis'],
    },
    // CodeDeploy's Linear10PercentEvery1Minute
    linear: { stepPercent: 10, interval: '1m' },
    'blue-green': { bake: '2m', keepPrevious: '15m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0, pause: '30s' },
  },

  gates: {
    smoke: {
      description: 'The candidate answers through the test route before it gets traffic',
      checks: [
        { type: 'http', path: '/health', expectStatus: 200 },
        { type: 'command', name: 'smoke-suite', run: 'node -e "process.exit(0)"', timeout: '2m' },
      ],
    },
    analysis: {
      description: 'Judged during every bake; the first failure rolls back at once',
      checks: [
        {
          type: 'router',
          name: 'error-rate',
          interval: '10s',
          maxErrorRate: 1,
          maxErrorRateIncrease: 1,
          minRequests: 50,
          failureLimit: 1,
        },
      ],
    },
  },

  hooks: {
    preDeploy: { run: 'echo "deploying $ZDD_REVISION of $ZDD_SERVICE"', timeout: '1m' },
    onRollback: 'echo "rolled back $ZDD_REVISION: $ZDD_ROLLBACK_REASON" >&2',
  },

  environments: {
    staging: {
      replicas: 1,
      strategies: { canary: { steps: [{ weight: 50, pause: '30s' }, { weight: 100 }] } },
    },
  },
});
