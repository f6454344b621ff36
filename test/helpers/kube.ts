import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './moto.js';

/**
 * A genuine Kubernetes control plane for one test file: etcd, kube-apiserver (TLS on 127.0.0.1
 * with a self-signed certificate, token authentication, RBAC) and kube-controller-manager (the
 * real Deployment and ReplicaSet controllers), built from Debian's source package by
 * scripts/build-kube-control-plane.sh.
 *
 * There is no kubelet, scheduler or container runtime: THE ONLY STAND-IN is `startKubeletStandIn`
 * below, which marks pods Running/Ready (or never-ready / crash-looping for images meant to fail)
 * and finishes deletions. No traffic flows: tests assert on the stored objects.
 */
export interface KubeControlPlane {
  server: string;
  /** A kubeconfig with contexts `admin` (current; user "zdd-admin" in system:masters) and `limited` (user "limited", no RBAC grants). */
  kubeconfig: string;
  /** Requests the API server's audit log holds from `user` so far (zdd's calls: "zdd-admin"). */
  auditCount(user: string, since?: number): number;
  /** The same requests by "verb resource" (e.g. "get virtualservices"). */
  auditSummary(user: string, since?: number): Record<string, number>;
  adminToken: string;
  limitedToken: string;
  /** Admin HTTPS call for test setup and assertions. */
  request<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** kubectl (on the machine image) as admin, for cross-checks; throws on a non-zero exit. */
  kubectl(args: string[], input?: string): string;
  /** Apply manifests (YAML or JSON text) as admin. */
  apply(manifest: string, namespace?: string): void;
  /** Kill kube-apiserver (SIGKILL: a crash, and no graceful-shutdown wait), keep it down `downMs`, start it again on the same port and certificates; resolves once /readyz answers. */
  restartApiServer(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_SCRIPT = join(ROOT, 'scripts/build-kube-control-plane.sh');
/** How long a test file waits for a cold build (CI starts it in the background, before npm ci). */
const BUILD_WAIT_MS = Number(process.env.ZDD_KUBE_BUILD_WAIT_MS ?? 40 * 60_000);

/** The directory with kube-apiserver and kube-controller-manager, building them when not cached (bounded wait). */
export function kubeBinaries(): string {
  const dir = spawnSync(BUILD_SCRIPT, ['--dir'], { encoding: 'utf8' });
  if (dir.status === 0) return dir.stdout.trim();
  process.stderr.write(
    `Kubernetes tests: kube-apiserver is not built yet (${dir.stdout.trim()}); waiting for scripts/build-kube-control-plane.sh ` +
      `(a build already running holds its lock; ~7 min on 2 quiet cores, more on busy ones; log: ${process.env.ZDD_KUBE_BUILD_LOG ?? 'this output'})\n`,
  );
  const build = spawnSync(BUILD_SCRIPT, [], { encoding: 'utf8', timeout: BUILD_WAIT_MS, stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status !== 0) throw new Error(`scripts/build-kube-control-plane.sh failed or took longer than ${BUILD_WAIT_MS / 60_000} min (exit ${build.status}, ${build.error?.message ?? ''})`);
  return build.stdout.trim().split('\n').pop()!;
}

export async function startKubeControlPlane(): Promise<KubeControlPlane> {
  const bin = kubeBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'zdd-kube-'));
  const children: ChildProcess[] = [];
  const logs = new Map<string, string>();
  const start = (name: string, cmd: string, args: string[]) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    logs.set(name, '');
    child.stderr?.on('data', (d) => logs.set(name, (logs.get(name)! + String(d)).slice(-6000)));
    children.push(child);
    return child;
  };
  const stop = async () => {
    // The API server ignores SIGTERM once etcd is gone: stop it first, etcd last, SIGKILL as a fallback.
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    start('etcd', 'etcd', [
      '--name', 'zdd', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `zdd=http://127.0.0.1:${peerPort}`, '--log-level', 'error',
    ]);

    const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
    const limitedToken = `limited-${Math.random().toString(36).slice(2)}`;
    const controllerToken = `controller-${Math.random().toString(36).slice(2)}`;
    const zddToken = `zdd-${Math.random().toString(36).slice(2)}`;
    writeFileSync(
      join(dir, 'tokens.csv'),
      `${adminToken},admin,admin-uid,"system:masters"\n${zddToken},zdd-admin,zdd-uid,"system:masters"\n${limitedToken},limited,limited-uid\n${controllerToken},system:kube-controller-manager,kcm-uid,"system:masters"\n`,
    );
    // The audit log counts zdd's requests (the closing note's "API calls per canary").
    writeFileSync(join(dir, 'audit-policy.json'), JSON.stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'None', users: ['admin', 'system:kube-controller-manager'] }, { level: 'Metadata' }] }));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    mkdirSync(join(dir, 'certs'));

    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`, '--insecure-port=0',
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.0.0.0/24',
      // No service accounts are minted (no tokens controller): pods need none.
      '--disable-admission-plugins=ServiceAccount',
      `--audit-policy-file=${join(dir, 'audit-policy.json')}`, `--audit-log-path=${join(dir, 'audit.log')}`,
      '--logtostderr', '--v=0',
    ];
    let api = start('kube-apiserver', join(bin, 'kube-apiserver'), apiArgs);
    const server = `https://127.0.0.1:${apiPort}`;
    let ca = '';
    const untilReady = async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (api.exitCode !== null) throw new Error(`kube-apiserver exited with ${api.exitCode}: ${logs.get('kube-apiserver')}`);
        try {
          ca ||= readFileSync(join(dir, 'certs', 'apiserver.crt'), 'utf8');
          const r = await call(server, ca, adminToken, 'GET', '/readyz');
          if (r.status === 200) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`kube-apiserver not ready within 60s: ${logs.get('kube-apiserver')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await untilReady();
    const restartApiServer = async (downMs: number) => {
      const exited = new Promise((r) => api.once('exit', r));
      api.kill('SIGKILL');
      await exited;
      children.splice(children.indexOf(api), 1);
      await new Promise((r) => setTimeout(r, downMs));
      api = start('kube-apiserver', join(bin, 'kube-apiserver'), apiArgs);
      // kube-controller-manager must stay after the API server in `children` (stop() goes in reverse).
      children.splice(children.indexOf(api), 1);
      children.splice(1, 0, api);
      await untilReady();
    };

    const caData = Buffer.from(ca).toString('base64');
    const kubeconfig = join(dir, 'kubeconfig');
    const userConfig = (name: string, token: string) => ({ name, user: { token } });
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'zdd-test', cluster: { server, 'certificate-authority-data': caData } }],
      users: [userConfig('admin', zddToken), userConfig('limited', limitedToken), userConfig('controller', controllerToken)],
      contexts: [
        { name: 'admin', context: { cluster: 'zdd-test', user: 'admin', namespace: 'default' } },
        { name: 'limited', context: { cluster: 'zdd-test', user: 'limited', namespace: 'default' } },
        { name: 'controller', context: { cluster: 'zdd-test', user: 'controller' } },
      ],
      'current-context': 'admin',
    };
    writeFileSync(kubeconfig, JSON.stringify(config, null, 2));
    const controllerConfig = join(dir, 'controller.kubeconfig');
    writeFileSync(controllerConfig, JSON.stringify({ ...config, 'current-context': 'controller' }));
    start('kube-controller-manager', join(bin, 'kube-controller-manager'), [
      `--kubeconfig=${controllerConfig}`, '--leader-elect=false', '--port=0', '--secure-port=0',
      '--controllers=deployment,replicaset,garbagecollector',
      '--logtostderr', '--v=0',
    ]);

    const audit = (user: string, since: number): any[] => {
      let text = '';
      try {
        text = readFileSync(join(dir, 'audit.log'), 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.user?.username === user && Date.parse(e.requestReceivedTimestamp) >= since);
    };
    const kubectl = (args: string[], input?: string) => {
      const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, `--token=${adminToken}`, ...args], { encoding: 'utf8', input, timeout: 30_000 });
      if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    return {
      server,
      kubeconfig,
      adminToken,
      limitedToken,
      auditCount(user, since = 0) {
        return audit(user, since).length;
      },
      auditSummary(user, since = 0) {
        const out: Record<string, number> = {};
        for (const e of audit(user, since)) {
          const key = `${e.verb} ${e.objectRef?.resource ?? e.requestURI}`;
          out[key] = (out[key] ?? 0) + 1;
        }
        return out;
      },
      request: (method, path, body) => call(server, ca, adminToken, method, path, body),
      kubectl,
      apply: (manifest, namespace = 'default') => void kubectl(['apply', '-n', namespace, '-f', '-'], manifest),
      restartApiServer,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function call(server: string, ca: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      server + path,
      {
        method,
        ca,
        timeout: 10_000,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // plain text (/readyz)
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** How the stand-in treats the pods of an image: ready (default), never ready, or crash-looping. */
export type PodFate = 'ready' | 'never-ready' | 'crash-loop';

/**
 * THE KUBELET STAND-IN (the only one in these tests): there is no kubelet, so every
 * `intervalMs` it lists the namespace's pods and writes the status a kubelet would: Running and
 * Ready, or — for images `fate` says should fail — Running but never Ready (readiness probe failing),
 * or crash-looping (restartCount growing, waiting reason CrashLoopBackOff). Pods being deleted are
 * finished (grace period 0), as a kubelet does once the containers stopped.
 */
export function startKubeletStandIn(cp: KubeControlPlane, opts: { namespace?: string; fate?: (image: string) => PodFate; intervalMs?: number } = {}): { stop(): Promise<void> } {
  const ns = opts.namespace ?? 'default';
  const fate = opts.fate ?? ((image: string) => (/never-ready/.test(image) ? 'never-ready' : /crash/.test(image) ? 'crash-loop' : 'ready'));
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    const r = await cp.request('GET', `/api/v1/namespaces/${ns}/pods`);
    if (r.status !== 200) return;
    for (const pod of r.body.items ?? []) {
      const name = pod.metadata.name;
      if (pod.metadata.deletionTimestamp) {
        await cp.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`, { gracePeriodSeconds: 0 });
        continue;
      }
      const containers: { name: string; image: string }[] = pod.spec.containers;
      const f = fate(containers[0]?.image ?? '');
      const prev = pod.status?.containerStatuses?.[0];
      const ready = f === 'ready';
      const restarts = f === 'crash-loop' ? (prev?.restartCount ?? 0) + 1 : 0;
      if (prev && f !== 'crash-loop' && prev.ready === ready && pod.status.phase === 'Running') continue;
      const now = new Date().toISOString();
      const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastTransitionTime: now, ...(ok ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${containers.map((c) => c.name).join(' ')}]` }) });
      const status = {
        phase: 'Running',
        startTime: pod.status?.startTime ?? now,
        conditions: [cond('Initialized', true), cond('Ready', ready), cond('ContainersReady', ready), cond('PodScheduled', true)],
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready,
          started: f !== 'crash-loop',
          restartCount: restarts,
          state: f === 'crash-loop' ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name}` } } : { running: { startedAt: now } },
        })),
      };
      await cp.request('PUT', `/api/v1/namespaces/${ns}/pods/${name}/status`, { ...pod, status });
    }
  };
  const loop = async () => {
    while (!stopped) {
      running = tick().catch(() => undefined);
      await running;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
    }
  };
  void loop();
  return {
    async stop() {
      stopped = true;
      await running;
    },
  };
}
