import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZDD_BIN } from '../cli/cli-harness.js';
import { events, failed, useKubeSuite } from './kube-project.js';

const live = (w: Record<string, number>) => Object.fromEntries(Object.entries(w).filter(([, v]) => v > 0));

// The seed's workflows through the built binary against a genuine kube-apiserver and controller
// manager. The only stand-in is the kubelet (test/helpers/kube.ts); no traffic flows, so every
// assertion is on the objects the API server stores, as Argo Rollouts' own e2e tests do.
describe.skipIf(!existsSync(ZDD_BIN))('zdd on Kubernetes: strategies', { timeout: 240_000 }, () => {
  const k = useKubeSuite();
  const selector = async (ns: string, svc: string) => (await k.get(ns, `/api/v1/namespaces/NS/services/${svc}`)).spec.selector;
  const vsRoutes = async (ns: string) => (await k.get(ns, '/apis/networking.istio.io/v1beta1/namespaces/NS/virtualservices/web')).spec.http;
  const httpRoute = async (ns: string) => (await k.get(ns, '/apis/gateway.networking.k8s.io/v1/namespaces/NS/httproutes/web'));
  const deployments = async (ns: string) =>
    Object.fromEntries((await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments')).items.map((d: any) => [d.metadata.name, d.spec.replicas]));

  it('blue-green by Service selector: preview Service first, one switch, instant rollback', async () => {
    const ns = await k.namespace();
    const dir = k.project(ns, "{ type: 'service', service: 'web', previewService: 'web-preview' }");
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'blue-green', '--json']);
    expect(r.code, failed(r)).toBe(0);
    const traffic = events(r.stdout).filter((e) => e.type === 'traffic');
    expect(traffic.map((e) => live(e.byRevision))).toEqual([{ v2: 100 }]);
    expect(traffic.every((e) => e.verified)).toBe(true);
    expect((await selector(ns, 'web'))['zdd.dev/revision']).toBe('v2');
    // The user's other selector keys are untouched.
    expect((await selector(ns, 'web')).app).toBe('web');
    const d = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web-v2');
    expect(d.metadata.labels['app.kubernetes.io/managed-by']).toBe('zdd');
    expect(d.spec.template.spec.containers[0].image).toBe('example.com/web:v2');
    // Blue is kept (keepPrevious) so the rollback is one write.
    expect(await deployments(ns)).toEqual({ web: 2, 'web-v2': 2 });

    const started = Date.now();
    const back = await k.zdd(dir, ['rollback', '--json']);
    expect(back.code, failed(back)).toBe(0);
    expect((await selector(ns, 'web'))['zdd.dev/revision']).toBe('v1');
    expect((await selector(ns, 'web-preview'))['zdd.dev/revision']).toBe('v1');
    console.log(`blue-green: zdd rollback → Service selector read back on v1 in ${Date.now() - started} ms`);
  });

  for (const kind of ['istio', 'gateway-api'] as const) {
    const router = kind === 'istio' ? "{ type: 'istio', virtualService: 'web', route: 'primary', service: 'web' }" : "{ type: 'gateway-api', httpRoute: 'web', rule: 0, service: 'web' }";
    const weightsOf = async (ns: string): Promise<Record<string, number>> => {
      if (kind === 'istio') {
        const primary = (await vsRoutes(ns)).find((h: any) => h.name === 'primary');
        return Object.fromEntries(primary.route.map((d: any) => [d.destination.host, d.weight]));
      }
      return Object.fromEntries((await httpRoute(ns)).spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight]));
    };

    it(`canary 10 → 50 → 100 on ${kind} weights, header test route added and removed, old revision retired`, async () => {
      const ns = await k.namespace();
      // The smoke gate runs while the header route exists: kubectl reads it from the API server.
      const probe = kind === 'istio'
        ? `kubectl --kubeconfig ${k.cp.kubeconfig} -n ${ns} get virtualservice web -o jsonpath='{.spec.http[1].name}={.spec.http[1].match[0].headers.x-canary.exact}={.spec.http[1].route[0].destination.host}' | grep -qx zdd-test-web=always=web-v2`
        : `kubectl --kubeconfig ${k.cp.kubeconfig} -n ${ns} get httproute web -o jsonpath='{.spec.rules[1].matches[0].headers[0].name}={.spec.rules[1].backendRefs[0].name}' | grep -qx x-canary=web-v2`;
      const dir = k.project(ns, router, `gates: { smoke: { checks: [{ type: 'command', run: 'test -n "$ZDD_TEST_HEADERS"' }, { type: 'command', run: ${JSON.stringify(probe)} }] } },`);
      const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'canary', '--json']);
      expect(r.code, failed(r)).toBe(0);
      const traffic = events(r.stdout).filter((e) => e.type === 'traffic');
      expect(traffic.map((e) => live(e.byRevision))).toEqual([10, 50, 100].map((w) => (w === 100 ? { v2: 100 } : { v1: 100 - w, v2: w })));
      expect(traffic.every((e) => e.verified)).toBe(true);
      expect(await weightsOf(ns)).toEqual({ 'web-v2': 100 });
      // zdd created the candidate's Service and weighted only its route.
      expect((await selector(ns, 'web-v2'))['zdd.dev/revision']).toBe('v2');
      if (kind === 'istio') {
        const routes = await vsRoutes(ns);
        expect(routes.map((h: any) => h.name)).toEqual(['admin', 'primary']);
        expect(routes[0]).toEqual({ name: 'admin', match: [{ uri: { prefix: '/admin' } }], route: [{ destination: { host: 'admin' } }] });
        expect(routes[1].route[0].destination.port).toEqual({ number: 80 });
      } else {
        const rules = (await httpRoute(ns)).spec.rules;
        expect(rules).toHaveLength(1);
        expect(rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/' } }]);
      }
      // Stable (the user's Deployment) scaled to 0, never deleted; the candidate runs.
      expect(await deployments(ns)).toEqual({ web: 0, 'web-v2': 2 });
    });

    it(`canary on ${kind} rolled back on a failed analysis: weights read back to stable 100`, async () => {
      const ns = await k.namespace();
      const dir = k.project(ns, router, `gates: { analysis: { checks: [{ type: 'command', run: 'test "$ZDD_WEIGHT" -lt 50' }] } },`);
      const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'canary', '--json']);
      expect(r.code, failed(r)).toBe(1);
      const traffic = events(r.stdout).filter((e) => e.type === 'traffic');
      expect(live(traffic.at(-1)!.byRevision)).toEqual({ v1: 100 });
      expect(traffic.at(-1)!.verified).toBe(true);
      expect(await weightsOf(ns)).toEqual({ web: 100 });
      // The candidate's Deployment and Service are gone; the user's objects stay.
      expect(await deployments(ns)).toEqual({ web: 2 });
      const svcs = (await k.get(ns, '/api/v1/namespaces/NS/services')).items.map((s: any) => s.metadata.name).sort();
      expect(svcs).toEqual(['web', 'web-preview']);
    });
  }

  for (const fate of ['never-ready', 'crash-loop'] as const) {
    it(`rolling on istio with a ${fate} candidate: fails its health wait naming the pods, rolled back to the previous template`, async () => {
      const ns = await k.namespace({ replicas: 3 });
      const dir = k.project(ns, "{ type: 'istio', virtualService: 'web', route: 'primary', service: 'web' }", `health: { timeout: '${fate === 'never-ready' ? '8s' : '60s'}' },`);
      const config = join(dir, 'deploy.config.ts');
      // One health timeout only: the project's default is replaced.
      writeFileSync(config, readFileSync(config, 'utf8').replace("health: { timeout: '40s' },\n", '').replace('strategies: {', "strategies: {\n    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },"));
      const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--image', `example.com/web:${fate}`, '--strategy', 'rolling', '--json']);
      expect(r.code, failed(r)).toBe(1);
      const done = events(r.stdout).find((e) => e.type === 'done');
      expect(done?.message).toMatch(fate === 'never-ready' ? /Deployment web-v2 \(revision v2\): not ready within 8s.*Pods: web-v2-\S+ Running, not ready \(ContainersNotReady/s : /a container is crash-looping.*container web waiting: CrashLoopBackOff/s);
      // The candidate never had weight; stable's template and size are as before.
      const traffic = events(r.stdout).filter((e) => e.type === 'traffic');
      expect(traffic.every((e) => (e.byRevision.v2 ?? 0) === 0)).toBe(true);
      const vs = await k.get(ns, '/apis/networking.istio.io/v1beta1/namespaces/NS/virtualservices/web');
      expect(vs.spec.http.find((h: any) => h.name === 'primary').route).toEqual([{ destination: { host: 'web', port: { number: 80 } }, weight: 100 }]);
      const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
      expect(web.spec.replicas).toBe(3);
      expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v1');
      expect(web.status.availableReplicas).toBe(3);
      expect(await deployments(ns)).toEqual({ web: 3 });
    });
  }

  // Router `service` whose Service selects every pod of the Deployment: the roll goes through the
  // Deployment's own RollingUpdate, paused between batches while zdd's checks run.
  const rollingInPlace = (ns: string, extra: string) => {
    const dir = k.project(ns, "{ type: 'service', service: 'web' }", extra);
    const config = join(dir, 'deploy.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace("health: { timeout: '40s' },\n", '').replace('strategies: {', "strategies: {\n    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0, pause: '1m' },"));
    return dir;
  };
  const podsOf = async (ns: string, revision: string) =>
    (await k.get(ns, `/api/v1/namespaces/NS/pods?labelSelector=${encodeURIComponent(`app=web,zdd.dev/revision=${revision}`)}`)).items.filter((p: any) => !p.metadata.deletionTimestamp);

  // The namespace the finished roll below leaves on v2 (100%, succeeded): the rollback test after it goes back from there.
  let rolledToV2: string | undefined;

  it('rolling in place on router service: the Deployment rolls batch by batch, held (paused) while the analysis runs, ending with every replica on the new template', async () => {
    const ns = await k.namespace({ replicas: 3, selectAll: true });
    // Between batches the analysis sees the rollout held: paused, the new ReplicaSet at the batch's size.
    // The kubelet stand-in readies pods within 150 ms, so a pause may land after the controller
    // started the next pod: at most maxSurge (1) more, as docs/kubernetes.md says.
    const held = `seen=$(kubectl --kubeconfig ${k.cp.kubeconfig} -n ${ns} get deployment web -o jsonpath='{.spec.paused} {.status.updatedReplicas}'); echo "seen $seen at weight $ZDD_WEIGHT" >&2; set -- $seen; want=$(( ZDD_WEIGHT < 50 ? 1 : 2 )); test "$1" = true && test "$2" -ge "$want" && test "$2" -le $(( want + 1 ))`;
    const dir = rollingInPlace(ns, `health: { timeout: '40s' },\n  gates: { analysis: { checks: [{ type: 'command', run: ${JSON.stringify(held)} }] } },`);
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'rolling', '--json']);
    expect(r.code, failed(r)).toBe(0);
    const evs = events(r.stdout);
    expect(evs.filter((e) => e.type === 'traffic').map((e) => live(e.byRevision))).toEqual([{ v1: 67, v2: 33 }, { v1: 33, v2: 67 }, { v2: 100 }]);
    const analysis = evs.filter((e) => e.type === 'check' && e.result.gate === 'analysis');
    expect(analysis.length).toBeGreaterThanOrEqual(2);
    expect(analysis.every((e) => e.result.verdict === 'pass')).toBe(true);
    const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v2');
    expect(web.spec.template.metadata.labels['zdd.dev/revision']).toBe('v2');
    expect(web.spec.paused ?? false).toBe(false);
    expect(web.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(web.status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(JSON.parse(web.metadata.annotations['zdd.dev/previous-template']).spec.containers[0].image).toBe('example.com/web:v1');
    // One Deployment throughout: no copy was made; the Service's selector is the user's, untouched.
    expect(await deployments(ns)).toEqual({ web: 3 });
    expect(await selector(ns, 'web')).toEqual({ app: web.spec.selector.matchLabels.app });
    expect(await podsOf(ns, 'v1')).toEqual([]);
    expect(await podsOf(ns, 'v2')).toHaveLength(3);
    rolledToV2 = ns;
  });

  it('rolling in place with a never-ready candidate: a failed health gate naming the pods, the previous template written back and available again', async () => {
    const ns = await k.namespace({ replicas: 3, selectAll: true });
    const dir = rollingInPlace(ns, "health: { timeout: '8s' },");
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--image', 'example.com/web:never-ready', '--strategy', 'rolling', '--json']);
    expect(r.code, failed(r)).toBe(1);
    const evs = events(r.stdout);
    expect(evs.find((e) => e.type === 'done')?.message).toMatch(/Deployment web \(revision v2\): not ready within 8s.*Pods: web-\S+ Running, not ready \(ContainersNotReady/s);
    const traffic = evs.filter((e) => e.type === 'traffic');
    expect(live(traffic.at(-1)!.byRevision)).toEqual({ v1: 100 });
    expect(traffic.at(-1)!.verified).toBe(true);
    const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v1');
    expect(web.spec.template.metadata.labels['zdd.dev/revision']).toBe('v1');
    expect(web.spec.paused ?? false).toBe(false);
    expect(web.status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(await deployments(ns)).toEqual({ web: 3 });
    expect(await podsOf(ns, 'v2')).toEqual([]);
  });

  it('rolling in place, zdd killed (-9) between batches: `zdd rollback` from another directory writes the previous template back', async () => {
    const ns = await k.namespace({ replicas: 3, selectAll: true });
    const dir = rollingInPlace(ns, "health: { timeout: '40s' },");
    const deploy = k.start(dir, ['deploy', '--revision', 'v2', '--strategy', 'rolling', '--json']);
    await deploy.waitFor(/"type":"traffic".*"verified":true/, 90_000);
    deploy.child.kill('SIGKILL');
    await deploy.done;
    const mid = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(mid.spec.template.metadata.labels['zdd.dev/revision']).toBe('v2');

    const elsewhere = mkdtempSync(join(tmpdir(), 'zdd-kube-elsewhere-'));
    writeFileSync(join(elsewhere, 'deploy.config.ts'), readFileSync(join(dir, 'deploy.config.ts'), 'utf8'));
    // The record in the cluster names the stable template (revision and image).
    const status = await k.zdd(elsewhere, ['status', '--json']);
    expect(status.stdout).toMatch(/example\.com\/web:v1/);
    const started = Date.now();
    const r = await k.zdd(elsewhere, ['rollback', '--json'], { fastClock: false });
    expect(r.code, failed(r)).toBe(0);
    console.log(`rolling in place, kill -9 between batches: zdd rollback (previous template written back, Deployment available on it, read back) took ${Date.now() - started} ms`);
    const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v1');
    expect(web.spec.template.metadata.labels['zdd.dev/revision']).toBe('v1');
    expect(web.spec.paused ?? false).toBe(false);
    expect(web.status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(await podsOf(ns, 'v2')).toEqual([]);
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it('rolling in place, finished (v2 at 100%) then an incident: `zdd rollback` from another directory puts v1\'s template back in one step, available and read back', async () => {
    // Reuses the Deployment the finished roll above left on v2 (no setup of its own).
    expect(rolledToV2, 'the finished roll above must have passed').toBeDefined();
    const ns = rolledToV2!;
    const before = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(before.spec.template.metadata.labels['zdd.dev/revision']).toBe('v2');
    const replicaSets = async () =>
      Object.fromEntries((await k.get(ns, '/apis/apps/v1/namespaces/NS/replicasets')).items.map((rs: any) => [rs.spec.template.metadata.labels['zdd.dev/revision'], { name: rs.metadata.name, replicas: rs.spec.replicas }]));
    const rsBefore = await replicaSets();
    expect(rsBefore).toEqual({ v1: { name: expect.any(String), replicas: 0 }, v2: { name: expect.any(String), replicas: 3 } });
    // Another machine: a fresh directory with the same config (state, record and lock in the cluster).
    const elsewhere = rollingInPlace(ns, "health: { timeout: '40s' },");
    const started = Date.now();
    const r = await k.zdd(elsewhere, ['rollback', '--json']);
    expect(r.code, failed(r)).toBe(0);
    console.log(`rolling in place, finished then rolled back: zdd rollback (v1's template written back, Deployment available on it, read back) took ${Date.now() - started} ms`);
    const evs = events(r.stdout);
    const traffic = evs.filter((e) => e.type === 'traffic');
    expect(live(traffic.at(-1)!.byRevision)).toEqual({ v1: 100 });
    expect(traffic.at(-1)!.verified).toBe(true);
    // One step: the template goes straight back to v1's, no batches in between.
    expect(traffic.filter((e) => Object.keys(live(e.byRevision)).length > 1)).toEqual([]);
    const web = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    expect(web.spec.template.spec.containers[0].image).toBe('example.com/web:v1');
    expect(web.spec.template.metadata.labels['zdd.dev/revision']).toBe('v1');
    expect(web.spec.paused ?? false).toBe(false);
    expect(web.status).toMatchObject({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
    expect(await deployments(ns)).toEqual({ web: 3 });
    expect(await podsOf(ns, 'v2')).toEqual([]);
    expect(await podsOf(ns, 'v1')).toHaveLength(3);
    // v1's template as it was: the controller scaled v1's own ReplicaSet back up (as `kubectl rollout undo` would).
    expect(await replicaSets()).toEqual({ v1: { name: rsBefore.v1.name, replicas: 3 }, v2: { name: rsBefore.v2.name, replicas: 0 } });
    // What zdd status reads back from the cluster: v1 alone on production, the restore recorded.
    const status = await k.zdd(elsewhere, ['status', '--json']);
    expect(status.code, failed(status)).toBe(0);
    const read = events(status.stdout).find((e) => e.type === 'status')!;
    expect(read.live.weights).toEqual({ v1: 100 });
    expect(read.live.revisions).toEqual([{ revision: { id: 'v1', image: 'example.com/web:v1' }, desired: 3, healthy: 3 }]);
    expect(read.deployment).toMatchObject({ kind: 'restore', status: 'succeeded', candidate: { id: 'v1' }, stable: { id: 'v2' } });
  });

  it('zdd plan for rolling in place says what the Deployment will be given: maxSurge the first batch, maxUnavailable 0 (the strategy\'s own not passed on)', async () => {
    // Reuses the Deployment the tests above rolled (v1 again); plan changes nothing.
    expect(rolledToV2, 'the finished roll above must have passed').toBeDefined();
    const ns = rolledToV2!;
    const dir = rollingInPlace(ns, "health: { timeout: '40s' },");
    const config = join(dir, 'deploy.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace('rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0,', 'rolling: { batchSize: 2, maxUnavailable: 1,'));
    const before = await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web');
    const r = await k.zdd(dir, ['plan', '--revision', 'v3', '--strategy', 'rolling', '--json']);
    expect(r.code, failed(r)).toBe(0);
    const plan = events(r.stdout).find((e) => e.type === 'plan')!;
    expect(plan.steps[0]).toEqual({ kind: 'provision', role: 'candidate', replicas: 2 });
    expect(plan.notes).toContainEqual(
      "rolling in place: Deployment web is given strategy.rollingUpdate { maxSurge: 2, maxUnavailable: 0 } (the first batch; no pod is removed before its replacement is ready); the strategy's maxUnavailable: 1 shapes only zdd's batches and is not passed on; it keeps that setting after the roll (a rollback writes maxSurge: 3, all replicas at once)",
    );
    const human = await k.zdd(dir, ['plan', '--revision', 'v3', '--strategy', 'rolling']);
    expect(human.stdout).toMatch(/note: rolling in place: Deployment web is given strategy\.rollingUpdate \{ maxSurge: 2, maxUnavailable: 0 \}/);
    expect((await k.get(ns, '/apis/apps/v1/namespaces/NS/deployments/web')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('rolling on router service whose Service selects one revision is refused before any change (blue-green mode)', async () => {
    const ns = await k.namespace({ replicas: 1 });
    const dir = rollingInPlace(ns, '');
    const r = await k.zdd(dir, ['deploy', '--revision', 'v2', '--strategy', 'rolling']);
    expect(r.code, failed(r)).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/needs weightedTraffic .* or a platform that rolls in place/);
    expect(await deployments(ns)).toEqual({ web: 1 });
  });
});
