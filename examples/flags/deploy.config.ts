import { defineConfig } from 'zdd';

// Feature flags on the local provider with a local Unleash (docs/flags.md walks through it).
// The token comes from the environment, never from this file: export UNLEASH_ADMIN_TOKEN=...
export default defineConfig({
  service: 'example-flags',

  provider: {
    type: 'local',
    command: 'node app.mjs',
    cwd: '../local',
    port: Number(process.env.PORT ?? 8080),
    health: { path: '/health', interval: '100ms' },
    testRoute: { header: 'X-Canary', value: 'always' },
    stopGrace: '3s',
  },
  replicas: 2,
  health: { timeout: '15s' },
  drain: '2s',

  flags: {
    provider: 'unleash',
    url: process.env.UNLEASH_URL ?? 'http://127.0.0.1:4242',
    project: 'default',
    environment: 'production',
    tokenEnv: 'UNLEASH_ADMIN_TOKEN',
    // `zdd release <flag>` without --steps/--pause uses these.
    release: { steps: [10, 50, 100], pause: '3s', stickiness: 'userId' },
  },

  strategies: {
    default: 'rolling',
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0, pause: '2s' },
    // zdd deploy --strategy hybrid: roll the code out dark, then ramp the flag, one plan, one rollback.
    hybrid: {
      deploy: 'rolling',
      rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0, pause: '2s' },
      flags: [{ flag: 'new-checkout', steps: [10, 50, 100], pause: '3s' }],
    },
  },

  gates: {
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    analysis: {
      checks: [
        { type: 'router', name: 'errors', interval: '1s', window: '2s', minRequests: 5, maxErrorRate: 5 },
        { type: 'http', name: 'production-probe', target: 'service', path: '/', interval: '50ms', failureLimit: 3 },
      ],
    },
  },
});
