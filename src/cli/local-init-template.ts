/** The commented config `zdd init --provider local` writes. */
export const localInitTemplate = `import { defineConfig } from 'zdd';

// zdd config: \`zdd validate\` checks it, \`zdd plan\` shows what a deploy would do.
export default defineConfig({
  // The name of what this config deploys; the lock and the records are per service.
  service: 'web',

  // Local provider: each revision runs as local processes behind zdd's own router.
  provider: {
    type: 'local',
    // How to start one instance. PORT, ZDD_REVISION and ZDD_SERVICE are in its environment.
    command: 'node server.js',
    // Where the router listens for production traffic.
    port: Number(process.env.PORT ?? 8080),
    // Must answer 2xx before an instance gets traffic.
    health: { path: '/health' },
  },

  // Instances per revision.
  replicas: 2,

  // How long a revision at weight 0 keeps serving in-flight requests before it is stopped.
  drain: '5s',

  strategies: {
    default: 'canary',
    canary: {
      steps: [
        { weight: 10, pause: '30s' },
        { weight: 50, pause: '30s' },
        { weight: 100 },
      ],
    },
    'blue-green': { bake: '30s', keepPrevious: '10m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },

  gates: {
    // Runs before the candidate gets production traffic (through the test route).
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    // Runs during every bake; a failure rolls back at once. Too little traffic to judge (nobody
    // uses the app yet) is inconclusive: the deploy pauses for \`zdd promote\` / \`zdd abort\`
    // ('pass' goes on, 'rollback' rolls back).
    analysis: {
      onInconclusive: 'pause',
      checks: [{ type: 'router', name: 'error-rate', interval: '5s', maxErrorRate: 5, minRequests: 20 }],
    },
  },

  // Commands at lifecycle points: preDeploy, postProvision, preShift, postShift, postDeploy, onRollback.
  hooks: {
    // preDeploy: { run: 'npm run migrate', timeout: '5m' },
  },
});
`;
