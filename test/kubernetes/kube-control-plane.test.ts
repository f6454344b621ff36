import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeControlPlane, startKubeletStandIn, type KubeControlPlane } from '../helpers/kube.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/kubernetes');

// The test bed itself: a genuine API server with RBAC and the real Deployment controller; the
// kubelet is the only stand-in (test/helpers/kube.ts).
describe('Kubernetes control plane for tests', { timeout: 120_000 }, () => {
  let cp: KubeControlPlane;
  let kubelet: { stop(): Promise<void> };
  beforeAll(async () => {
    cp = await startKubeControlPlane();
    kubelet = startKubeletStandIn(cp);
  }, 40 * 60_000);
  afterAll(async () => {
    await kubelet?.stop();
    await cp?.stop();
  });

  it('answers the limited token with 403 and the admin with 200', async () => {
    const r = await cp.request('GET', '/apis/apps/v1/namespaces/default/deployments');
    expect(r.status).toBe(200);
    const limited = await fetchAs(cp, cp.limitedToken, '/apis/apps/v1/namespaces/default/deployments');
    expect(limited).toBe(403);
  });

  it('runs a Deployment to available through the controller manager and the kubelet stand-in', async () => {
    cp.apply(`apiVersion: apps/v1
kind: Deployment
metadata: { name: smoke }
spec:
  replicas: 2
  selector: { matchLabels: { app: smoke } }
  template:
    metadata: { labels: { app: smoke } }
    spec: { containers: [{ name: app, image: 'example/smoke:1' }] }
`);
    const deadline = Date.now() + 60_000;
    let available = 0;
    while (Date.now() < deadline && available < 2) {
      const d = await cp.request('GET', '/apis/apps/v1/namespaces/default/deployments/smoke');
      available = d.body.status?.availableReplicas ?? 0;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(available).toBe(2);
  });

  it('stores Istio and Gateway API objects from the fixture CRDs', async () => {
    cp.apply(readFileSync(join(FIXTURES, 'istio-crds.yaml'), 'utf8'));
    cp.apply(readFileSync(join(FIXTURES, 'gateway-api-crds.yaml'), 'utf8'));
    cp.kubectl(['wait', '--for=condition=Established', 'crd/virtualservices.networking.istio.io', 'crd/httproutes.gateway.networking.k8s.io']);
    cp.apply(`apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: vs }
spec: { hosts: [web], http: [{ name: primary, route: [{ destination: { host: web }, weight: 100 }] }] }
`);
    const vs = await cp.request('GET', '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/vs');
    expect(vs.body.spec.http[0].route[0].weight).toBe(100);
  });
});

async function fetchAs(cp: KubeControlPlane, token: string, path: string): Promise<number> {
  const { default: https } = await import('node:https');
  const ca = Buffer.from(JSON.parse(readFileSync(cp.kubeconfig, 'utf8')).clusters[0].cluster['certificate-authority-data'], 'base64');
  return new Promise((resolve, reject) => {
    https.get(cp.server + path, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
}
