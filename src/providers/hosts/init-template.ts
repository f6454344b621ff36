import { haproxyInitSnippet } from '../haproxy/init-snippet.js';

/** The commented config `zdd init --provider hosts` writes (behind HAProxy, its default router). */
export function hostsInitTemplate(routerSnippet: string = haproxyInitSnippet): string {
  return `import { defineConfig } from 'zdd';

// zdd config: \`zdd validate\` checks it, \`zdd plan\` shows what a deploy would do.
export default defineConfig({
  service: 'web',

  // Hosts platform: instances on your machines, started and stopped by your own commands.
  // One instance of a revision per host, on a port of \`ports\` that no other revision uses there.
  provider: {
    type: 'hosts',
    hosts: ['10.0.0.11', '10.0.0.12'],
    ports: [8081, 8082],
    // Must start one instance and return 0. {{host}} {{port}} {{revision}} {{image}} {{service}} are replaced.
    provision: 'ssh {{host}} sudo systemctl start web@{{port}} --setenv=REVISION={{revision}}',
    // Stops one instance, after zdd drained it.
    retire: 'ssh {{host}} sudo systemctl stop web@{{port}}',
    // GET http://<host>:<port>/health must answer 2xx before an instance gets traffic.
    health: { path: '/health' },
    ${routerSnippet},
  },

  replicas: 2,
  drain: '5s',

  strategies: {
    default: 'canary',
    canary: { steps: [{ weight: 10, pause: '30s' }, { weight: 50, pause: '30s' }, { weight: 100 }] },
    'blue-green': { bake: '30s', keepPrevious: '10m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },

  gates: {
    smoke: { checks: [{ type: 'http', path: '/health', expectStatus: 200 }] },
    // HAProxy's own counters (show stat): 5xx per revision.
    analysis: {
      onInconclusive: 'pause',
      checks: [{ type: 'router', name: 'error-rate', interval: '10s', maxErrorRate: 1, minRequests: 50 }],
    },
  },
});
`;
}
