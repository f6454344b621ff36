import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { runZdd, startZdd, type RunResult } from '../cli/cli-harness.js';
import { startKubeControlPlane, startKubeletStandIn, type KubeControlPlane } from '../helpers/kube.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/kubernetes');

/** The manifests docs/kubernetes.md tells a user to apply (Deployment, Services, VirtualService, HTTPRoute). */
export function appManifests(replicas = 2, routes = true): string {
  const all = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, labels: { app: web } }
spec:
  replicas: ${replicas}
  progressDeadlineSeconds: 600
  selector: { matchLabels: { app: web, zdd.dev/revision: v1 } }
  template:
    metadata: { labels: { app: web, zdd.dev/revision: v1 } }
    spec: { containers: [{ name: web, image: 'example.com/web:v1', ports: [{ containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web, zdd.dev/revision: v1 }
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
---
apiVersion: v1
kind: Service
metadata: { name: web-preview }
spec:
  selector: { app: web, zdd.dev/revision: v1 }
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [web.example.com]
  http:
    - name: admin
      match: [{ uri: { prefix: /admin } }]
      route: [{ destination: { host: admin } }]
    - name: primary
      route: [{ destination: { host: web, port: { number: 80 } }, weight: 100 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ name: public-gateway }]
  hostnames: [web.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: web, port: 80, weight: 100 }]
`;
  return routes ? all : all.split('\n---\n').filter((doc) => !/VirtualService|HTTPRoute/.test(doc)).join('\n---\n');
}

/** Istio's and the Gateway API's CRDs, from the fixtures. */
export function installRouteCrds(cp: KubeControlPlane): void {
  cp.apply(readFileSync(join(FIXTURES, 'istio-crds.yaml'), 'utf8'));
  cp.apply(readFileSync(join(FIXTURES, 'gateway-api-crds.yaml'), 'utf8'));
  cp.kubectl(['wait', '--for=condition=Established', 'crd/virtualservices.networking.istio.io', 'crd/httproutes.gateway.networking.k8s.io']);
}

export interface KubeSuite {
  cp: KubeControlPlane;
  /**
   * A fresh namespace with the app's manifests applied and its pods ready. `selectAll`: the
   * Deployment's and the Service's selectors leave out zdd.dev/revision (rolling in place).
   */
  namespace(opts?: { replicas?: number; routes?: boolean; selectAll?: boolean }): Promise<string>;
  /** A project directory whose deploy.config.ts targets `namespace` with the given router. */
  project(namespace: string, router: string, extra?: string, state?: string): string;
  zdd(dir: string, args: string[], opts?: { fastClock?: boolean; timeoutMs?: number; env?: Record<string, string> }): Promise<RunResult>;
  start(dir: string, args: string[]): ReturnType<typeof startZdd>;
  get<T = any>(namespace: string, path: string): Promise<T>;
}

/**
 * One control plane per test file (test/helpers/kube.ts), the kubelet stand-in running, the
 * Istio and Gateway API CRDs installed; each test gets its own namespace.
 */
export function useKubeSuite(opts: { crds?: boolean } = {}): KubeSuite {
  let cp: KubeControlPlane;
  const kubelets: { stop(): Promise<void> }[] = [];
  const dirs: string[] = [];
  let n = 0;
  beforeAll(async () => {
    cp = await startKubeControlPlane();
    if (opts.crds !== false) installRouteCrds(cp);
  }, 45 * 60_000);
  afterAll(async () => {
    for (const k of kubelets) await k.stop();
    await cp?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const suite: KubeSuite = {
    get cp() {
      return cp;
    },
    async namespace(opts = {}) {
      const ns = `t${++n}-${Math.random().toString(36).slice(2, 7)}`;
      cp.kubectl(['create', 'namespace', ns]);
      const manifests = appManifests(opts.replicas ?? 2, opts.routes ?? true);
      cp.apply(opts.selectAll ? manifests.replace(/selector: \{ (matchLabels: \{ )?app: web, zdd\.dev\/revision: v1 \}/g, (_m, ml) => `selector: { ${ml ?? ''}app: web }`) : manifests, ns);
      kubelets.push(startKubeletStandIn(cp, { namespace: ns, intervalMs: 150 }));
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const d = await suite.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
        if ((d.status?.availableReplicas ?? 0) >= (opts.replicas ?? 2)) return ns;
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`namespace ${ns}: Deployment web never became available`);
    },
    project(namespace, router, extra = '', state = "{ type: 'kubernetes' }") {
      const dir = mkdtempSync(join(tmpdir(), 'zdd-kube-e2e-'));
      dirs.push(dir);
      writeFileSync(
        join(dir, 'deploy.config.ts'),
        `import { defineConfig } from 'zdd';

export default defineConfig({
  service: 'web',
  provider: {
    type: 'kubernetes',
    kubeconfig: ${JSON.stringify(cp.kubeconfig)},
    namespace: ${JSON.stringify(namespace)},
    deployment: 'web',
    image: 'example.com/web:{{revision}}',
    router: ${router},
    pollInterval: '200ms',
  },
  state: ${state},
  drain: '5s',
  health: { timeout: '40s' },
  strategies: {
    canary: { steps: [{ weight: 10, pause: '1m' }, { weight: 50, pause: '1m' }, { weight: 100 }] },
    'blue-green': { keepPrevious: '10m' },
  },
  ${extra}
});
`,
      );
      return dir;
    },
    zdd: (dir, args, opts = {}) => runZdd(['--config', join(dir, 'deploy.config.ts'), ...args], dir, opts.env ?? {}, opts.timeoutMs ?? 120_000, { fastClock: opts.fastClock ?? true }),
    start: (dir, args) => startZdd(['--config', join(dir, 'deploy.config.ts'), ...args], dir, {}, { fastClock: true }),
    async get(namespace, path) {
      const r = await cp.request('GET', path.replace('NS', namespace));
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
  return suite;
}

export function events(stdout: string): { type: string; [k: string]: any }[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

export const failed = (r: { stdout: string; stderr: string }) => `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
