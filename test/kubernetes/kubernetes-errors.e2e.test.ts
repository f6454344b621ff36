import { readFileSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZDD_BIN } from '../cli/cli-harness.js';
import { freePort } from '../helpers/moto.js';
import { failed, installRouteCrds, useKubeSuite } from './kube-project.js';

// Every refusal exits 5 before any change: the test reads the namespace back and finds only the
// user's objects, untouched. Genuine API server with RBAC on; the kubelet is the only stand-in.
describe.skipIf(!existsSync(ZDD_BIN))('zdd on Kubernetes: errors before any change (exit 5)', { timeout: 240_000 }, () => {
  const k = useKubeSuite({ crds: false });
  const ISTIO = "{ type: 'istio', virtualService: 'web', route: 'primary', service: 'web' }";
  const GATEWAY = "{ type: 'gateway-api', httpRoute: 'web', service: 'web' }";
  const SERVICE = "{ type: 'service', service: 'web' }";

  async function expectUnchanged(ns: string): Promise<void> {
    const deployments = (await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments')).items.map((d: any) => `${d.metadata.name}=${d.spec.replicas}`);
    expect(deployments).toEqual(['web=2']);
    const services = (await k.get(ns, '/api/v1/namespaces/NS/services')).items.map((s: any) => `${s.metadata.name}:${s.spec.selector['zdd.dev/revision']}`).sort();
    expect(services).toEqual(['web-preview:v1', 'web:v1']);
  }
  async function deployExpecting5(dir: string, message: RegExp): Promise<string> {
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'blue-green']);
    expect(r.code, failed(r)).toBe(5);
    expect(r.stderr + r.stdout).toMatch(message);
    return r.stderr + r.stdout;
  }
  /** A copy of the test kubeconfig with `change` applied. */
  function kubeconfigWith(dir: string, change: (cfg: any) => void): string {
    const cfg = JSON.parse(readFileSync(k.cp.kubeconfig, 'utf8'));
    change(cfg);
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, JSON.stringify(cfg));
    return file;
  }
  const withKubeconfig = (dir: string, file: string) => {
    const p = join(dir, 'deploy.config.ts');
    writeFileSync(p, readFileSync(p, 'utf8').replace(/kubeconfig: "[^"]*"/, `kubeconfig: ${JSON.stringify(file)}`));
  };

  it('Istio and Gateway API CRDs not installed', async () => {
    const ns = await k.namespace({ routes: false });
    await deployExpecting5(k.project(ns, ISTIO), /does not serve VirtualService.*CRD virtualservices\.networking\.istio\.io is not installed/);
    await deployExpecting5(k.project(ns, GATEWAY), /does not serve HTTPRoute.*CRD httproutes\.gateway\.networking\.k8s\.io is not installed/);
    await expectUnchanged(ns);
    installRouteCrds(k.cp);
  });

  it('no kubeconfig, unreachable API server, TLS failure, 401', async () => {
    const ns = await k.namespace({ routes: false });
    const dir = k.project(ns, SERVICE);
    withKubeconfig(dir, join(dir, 'missing-kubeconfig'));
    await deployExpecting5(dir, /No kubeconfig: .*missing-kubeconfig does not exist/);

    const port = await freePort();
    withKubeconfig(dir, kubeconfigWith(dir, (c) => (c.clusters[0].cluster.server = `https://127.0.0.1:${port}`)));
    await deployExpecting5(dir, /API server https:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/);

    withKubeconfig(dir, kubeconfigWith(dir, (c) => delete c.clusters[0].cluster['certificate-authority-data']));
    await deployExpecting5(dir, /TLS failure talking to the Kubernetes API server .*SELF_SIGNED|TLS failure/);

    withKubeconfig(dir, kubeconfigWith(dir, (c) => (c.users[0].user.token = 'wrong-token')));
    await deployExpecting5(dir, /rejected zdd's credentials \(401 Unauthorized/);
    await expectUnchanged(ns);
  });

  it('403 names the verb, resource and namespace: no read access, and read-only access', async () => {
    const ns = await k.namespace({ routes: false });
    const dir = k.project(ns, SERVICE);
    withKubeconfig(dir, kubeconfigWith(dir, (c) => (c['current-context'] = 'limited')));
    // State on Kubernetes: the lock is the first thing a deploy writes.
    await deployExpecting5(dir, new RegExp(`forbids user "limited" to create leases\\.coordination\\.k8s\\.io "zdd-web-lock" in namespace ${ns} \\(403 Forbidden\\)`));
    // Local state: the provider's first read.
    const local = k.project(ns, SERVICE, '', "{ type: 'file' }");
    withKubeconfig(local, kubeconfigWith(local, (c) => (c['current-context'] = 'limited')));
    await deployExpecting5(local, new RegExp(`forbids user "limited" to get deployments\\.apps "web" in namespace ${ns} \\(403 Forbidden\\)`));

    // Read-only: every read passes, and the RBAC check refuses before the first write.
    k.cp.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: zdd-read }
rules:
  - { apiGroups: ['', apps], resources: [deployments, services, pods], verbs: [get, list] }
  - { apiGroups: ['', coordination.k8s.io], resources: [configmaps, leases], verbs: [get, list, create, update, delete] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: zdd-read }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: zdd-read }
subjects: [{ kind: User, name: limited }]
`, ns);
    const out = await deployExpecting5(dir, new RegExp(`forbids user "limited" to create deployments\\.apps in namespace ${ns} \\(RBAC\\)`));
    expect(out).toMatch(/apiGroups/);
    await expectUnchanged(ns);
  });

  it('missing Deployment, Service, VirtualService, HTTPRoute; unknown route name', async () => {
    installRouteCrds(k.cp);
    const ns = await k.namespace();
    const project = (router: string, deployment = 'web') => {
      const dir = k.project(ns, router);
      const p = join(dir, 'deploy.config.ts');
      writeFileSync(p, readFileSync(p, 'utf8').replace("deployment: 'web'", `deployment: '${deployment}'`));
      return dir;
    };
    await deployExpecting5(project(SERVICE, 'nope'), new RegExp(`Deployment "nope" does not exist in namespace ${ns}`));
    await deployExpecting5(project("{ type: 'service', service: 'nope' }"), new RegExp(`Service "nope" does not exist in namespace ${ns}`));
    await deployExpecting5(project("{ type: 'istio', virtualService: 'nope', route: 'primary', service: 'web' }"), new RegExp(`VirtualService "nope" does not exist in namespace ${ns}`));
    await deployExpecting5(project("{ type: 'gateway-api', httpRoute: 'nope', service: 'web' }"), new RegExp(`HTTPRoute "nope" does not exist in namespace ${ns}`));
    await deployExpecting5(project("{ type: 'istio', virtualService: 'web', route: 'canary', service: 'web' }"), /VirtualService web has no http route named "canary" \(routes: admin, primary\)/);
    // A route another zdd service weights is not ours to touch.
    k.cp.kubectl(['annotate', '-n', ns, 'virtualservice', 'web', 'zdd.dev/weights=billing']);
    await deployExpecting5(project(ISTIO), /VirtualService web, route "primary" is weighted by zdd for "billing" \(annotation zdd.dev\/weights\), not "web": zdd leaves it alone/);
    await expectUnchanged(ns);
  });

  it('rolling in place refused before any change when the Deployment\'s selector holds zdd.dev/revision (the label a roll changes)', async () => {
    const ns = await k.namespace({ routes: false });
    // The Service selects every pod (rolling in place), but the Deployment's selector keeps the revision label.
    k.cp.kubectl(['patch', 'service', 'web', '-n', ns, '--type=json', '-p', '[{"op":"remove","path":"/spec/selector/zdd.dev~1revision"}]']);
    const dir = k.project(ns, SERVICE);
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'rolling']);
    expect(r.code, failed(r)).toBe(5);
    expect(r.stderr + r.stdout).toMatch(/Deployment "web" has zdd\.dev\/revision in its selector, but Service "web" selects all its pods/);
    const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v1');
    expect(web.metadata.annotations?.['zdd.dev/previous-template']).toBeUndefined();
  });

  it('the minimal Role in docs/kubernetes.md is enough for a canary with state in the cluster', async () => {
    installRouteCrds(k.cp);
    const ns = await k.namespace();
    const docs = readFileSync(join(import.meta.dirname, '../../docs/kubernetes.md'), 'utf8');
    const role = docs.slice(docs.indexOf('## RBAC: the minimal Role')).match(/```yaml\n([\s\S]*?)```/)![1]
      .replaceAll('namespace: web', `namespace: ${ns}`)
      .replace(/subjects: .*/, 'subjects: [{ kind: User, name: limited }]');
    k.cp.apply(role, ns);
    const dir = k.project(ns, ISTIO);
    withKubeconfig(dir, kubeconfigWith(dir, (c) => (c['current-context'] = 'limited')));
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'canary']);
    expect(r.code, failed(r)).toBe(0);
    const back = await k.zdd(dir, ['rollback']);
    expect(back.code, failed(back)).toBe(0);
  });

  it('RBAC revoked mid-canary: exit 4 naming what is where (weights as last verified, the forbidden call) and the fix', async () => {
    installRouteCrds(k.cp);
    const ns = await k.namespace();
    const docs = readFileSync(join(import.meta.dirname, '../../docs/kubernetes.md'), 'utf8');
    const role = docs.slice(docs.indexOf('## RBAC: the minimal Role')).match(/```yaml\n([\s\S]*?)```/)![1]
      .replaceAll('namespace: web', `namespace: ${ns}`)
      .replace(/subjects: .*/, 'subjects: [{ kind: User, name: limited }]');
    k.cp.apply(role, ns);
    const dir = k.project(ns, ISTIO);
    withKubeconfig(dir, kubeconfigWith(dir, (c) => (c['current-context'] = 'limited')));
    const deploy = k.start(dir, ['deploy', '--revision', 'v2', '--strategy', 'canary', '--json']);
    await deploy.waitFor(/"type":"traffic".*"verified":true/, 90_000);
    k.cp.kubectl(['delete', 'rolebinding', 'zdd', '-n', ns]);
    const r = await deploy.done;
    expect(r.code, failed(r)).toBe(4);
    const out = r.stdout + r.stderr;
    const vs = await k.get(ns, '/apis/networking.istio.io/v1beta1/namespaces/NS/virtualservices/web');
    const weights = Object.fromEntries(vs.spec.http.find((h: any) => h.name === 'primary').route.map((d: any) => [d.destination.host, d.weight]));
    // What is where: the route as zdd last read it back, the call RBAC refused, and the Role to restore.
    expect(out).toMatch(new RegExp(`last verified traffic: stable v1 ${weights.web}% \\| candidate v2 ${weights['web-v2']}%`));
    expect(out).toMatch(/forbids user "limited" to \w+ \S+ .*in namespace t\d+-\w+ \(403 Forbidden\)/);
    expect(out).toMatch(/a Role bound to "limited" must grant it \(docs\/kubernetes.md, "RBAC: the minimal Role"\)/);
    expect(out).toMatch(/zdd rollback/);
  });
});
