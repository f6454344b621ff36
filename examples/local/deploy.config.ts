import { defineConfig } from 'zdd';

// The local example: each revision runs `node app.mjs` twice behind zdd's own router.
// Try: npx zdd deploy --config examples/local/deploy.config.ts --revision v1
export default defineConfig({
  service: 'example-web',

  provider: {
    type: 'local',
    // PORT, ZDD_REVISION and ZDD_SERVICE are in the environment of every instance.
    command: 'node app.mjs',
    // The router listens here; instances get ports of their own.
    port: Number(process.env.PORT ?? 8080),
    health: { path: '/health', interval: '100ms' },
    // curl -H 'X-Canary: always' reaches the candidate before it has any weight.
    testRoute: { header: 'X-Canary', value: 'always' },
    stopGrace: '3s',
  },

  replicas: 2,
  health: { timeout: '15s' },
  drain: '2s',

  strategies: {
    default: 'canary',
    canary: {
      steps: [
        { weight: 20, pause: '3s' },
        { weight: 50, pause: '3s' },
        { weight: 100 },
      ],
    },
    'blue-green': { bake: '2s', keepPrevious: '30s' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0, pause: '1s' },
  },

  gates: {
    // Before any production traffic: the candidate answers through the test route.
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    // During every bake; a failure rolls back at once.
    analysis: {
      checks: [
        // The judge: the router's own per-revision counts, candidate versus stable, over the last 2s.
        {
          type: 'router',
          name: 'candidate-errors',
          interval: '1s',
          window: '2s',
          minRequests: 5,
          maxErrorRate: 5,
          maxErrorRateIncrease: 1,
        },
        // What a user sees on the service port. It also keeps a little traffic flowing while you
        // try the example with nobody using it, so the router check has requests to judge
        // (a real service has real traffic).
        { type: 'http', name: 'production-probe', target: 'service', path: '/', interval: '50ms', failureLimit: 3 },
      ],
    },
  },
});
