import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ProviderError } from '../../core/errors.js';

/** How zdd reaches the cluster: a flag beats the config, which beats KUBECONFIG / ~/.kube/config / the in-cluster service account. */
export interface KubeAccess {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** One kind of object: where its REST path lives and what people call it. */
export interface KubeResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** The CRD that defines it, when it is not built in (named in "not installed" errors). */
  crd?: string;
}

export const RESOURCES = {
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
  virtualService: { group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices', kind: 'VirtualService', crd: 'virtualservices.networking.istio.io' },
  httpRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute', crd: 'httproutes.gateway.networking.k8s.io' },
} satisfies Record<string, KubeResource>;

/** The fields of any stored object zdd reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** A replace that carried a resourceVersion someone else has since changed (HTTP 409). */
export class KubeConflict extends Error {
  constructor(readonly what: string) {
    super(`${what} changed since zdd read it (409 Conflict)`);
    this.name = 'KubeConflict';
  }
}

const REQUEST_TIMEOUT_MS = 15_000;
/**
 * How long a command that has already reached the API server rides out its absence (a restart, a
 * control-plane upgrade, a failover): connection refused/reset and 503 are retried with backoff
 * for this long, then reported as unreachable. Before the first answer, unreachable is at once
 * an error (exit 5, nothing changed). ZDD_KUBE_RETRY_MS overrides it.
 */
const RETRY_BUDGET_MS = Number(process.env.ZDD_KUBE_RETRY_MS ?? 60_000);
const RETRY_CODES = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTCONN|EHOSTUNREACH|ENETUNREACH)$/;
/** A write that keeps meeting a 409 after re-reading: someone is fighting zdd over the object. */
export const CONFLICT_ATTEMPTS = 5;

/**
 * The Kubernetes REST API over HTTPS, with errors translated for people (exit 5: unreachable, TLS,
 * 401, 403 naming verb/resource/namespace, missing CRD). The kubeconfig is read by
 * @kubernetes/client-node (contexts, exec plugins, in-cluster service account); the requests are
 * plain HTTPS so that every call is counted and every status code seen.
 */
export class KubeApi {
  /** Requests sent so far (the closing note's "API calls per canary"). */
  calls = 0;
  private constructor(
    readonly server: string,
    readonly namespace: string,
    readonly user: string,
    private readonly options: https.RequestOptions,
  ) {}

  /** Loads the kubeconfig (lazily importing @kubernetes/client-node); no request is sent yet. */
  static async connect(access: KubeAccess): Promise<KubeApi> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    const inCluster = !!process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
    const files = access.kubeconfig ? [access.kubeconfig] : (process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [join(homedir(), '.kube', 'config')]);
    const present = files.filter((f) => existsSync(f));
    try {
      if (present.length > 0) {
        if (access.kubeconfig) kc.loadFromFile(access.kubeconfig);
        else kc.loadFromDefault();
      } else if (inCluster && !access.kubeconfig) {
        kc.loadFromCluster();
      } else {
        throw new ProviderError(`No kubeconfig: ${files.join(', ')} ${files.length > 1 ? 'do' : 'does'} not exist and zdd is not running in a cluster`, {
          code: 'kube-no-config',
          hint: 'Point KUBECONFIG (or provider.kubeconfig / --kubeconfig) at a kubeconfig file, e.g. the one `kubectl config view --minify --raw` prints.',
        });
      }
      if (access.context) {
        if (!kc.getContextObject(access.context)) {
          throw new ProviderError(`Context "${access.context}" is not in the kubeconfig (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`, {
            code: 'kube-no-context',
            hint: 'Fix provider.context / --context, or list contexts with `kubectl config get-contexts`.',
          });
        }
        kc.setCurrentContext(access.context);
      }
    } catch (e) {
      if (e instanceof ProviderError) throw e;
      throw new ProviderError(`Cannot read the kubeconfig: ${(e as Error).message}`, { cause: e, code: 'kube-bad-config', hint: 'Check the file with `kubectl config view`.' });
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new ProviderError(`The kubeconfig has no current cluster (context "${kc.getCurrentContext() || 'none'}")`, {
        code: 'kube-no-context',
        hint: 'Set a current context (`kubectl config use-context <name>`) or pass --context.',
      });
    }
    const options: https.RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(options);
    const namespace = access.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    return new KubeApi(cluster.server.replace(/\/+$/, ''), namespace, kc.getCurrentUser()?.name ?? 'unknown', options);
  }

  /** The REST path of `res` (one object when `name` is given). */
  path(res: KubeResource, name?: string, namespace = this.namespace): string {
    const base = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
    return `${base}/namespaces/${encodeURIComponent(namespace)}/${res.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  /** Read one object; null when it does not exist. */
  async get<T extends KubeObject>(res: KubeResource, name: string): Promise<T | null> {
    const r = await this.send('GET', this.path(res, name), res, name);
    if (r.status === 404) {
      if (isMissingType(r.body)) throw notInstalled(res);
      return null;
    }
    return this.ok<T>(r, 'get', res, name);
  }

  /** Objects of `res` matching a label selector. */
  async list<T extends KubeObject>(res: KubeResource, labelSelector?: string): Promise<T[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const r = await this.send('GET', this.path(res) + q, res);
    if (r.status === 404) throw notInstalled(res);
    return (this.ok<{ items: T[] }>(r, 'list', res)).items ?? [];
  }

  /** Create; null when an object of that name already exists. */
  async create<T extends KubeObject>(res: KubeResource, obj: KubeObject): Promise<T | null> {
    const r = await this.send('POST', this.path(res), res, obj.metadata.name, obj);
    if (r.status === 409) return null;
    return this.ok<T>(r, 'create', res, obj.metadata.name);
  }

  /** Replace, carrying the resourceVersion `obj` was read with; a stale one throws KubeConflict. */
  async replace<T extends KubeObject>(res: KubeResource, obj: KubeObject): Promise<T> {
    const r = await this.send('PUT', this.path(res, obj.metadata.name), res, obj.metadata.name, obj);
    if (r.status === 409) throw new KubeConflict(`${res.kind} ${obj.metadata.name}`);
    return this.ok<T>(r, 'update', res, obj.metadata.name);
  }

  /** Delete (with `resourceVersion` as a precondition when given); false when it was already gone or the precondition failed. */
  async delete(res: KubeResource, name: string, opts: { resourceVersion?: string; propagation?: 'Foreground' | 'Background' } = {}): Promise<boolean> {
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: opts.propagation ?? 'Background', ...(opts.resourceVersion ? { preconditions: { resourceVersion: opts.resourceVersion } } : {}) };
    const r = await this.send('DELETE', this.path(res, name), res, name, body);
    if (r.status === 404 || r.status === 409) return false;
    this.ok(r, 'delete', res, name);
    return true;
  }

  /**
   * Read, change, replace with the resourceVersion read; a 409 means someone wrote in between:
   * read again and re-apply `change` (never a blind retry). `change` returns null for "nothing to do".
   */
  async update<T extends KubeObject>(res: KubeResource, name: string, change: (current: T) => T | null, onConflict?: () => void): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get<T>(res, name);
      if (!current) throw missing(res, name, this.namespace);
      const next = change(structuredClone(current));
      if (!next) return current;
      try {
        return await this.replace<T>(res, next);
      } catch (e) {
        if (!(e instanceof KubeConflict) || attempt >= CONFLICT_ATTEMPTS) {
          if (e instanceof KubeConflict) {
            throw new ProviderError(`${res.kind} ${name} in namespace ${this.namespace} kept changing under zdd: ${CONFLICT_ATTEMPTS} writes in a row met 409 Conflict`, {
              code: 'kube-conflict',
              changed: true,
              hint: 'Another controller or person is writing the same object: stop it (or let it finish), then run the zdd command again.',
            });
          }
          throw e;
        }
        onConflict?.();
      }
    }
  }

  /** Whether RBAC lets this user `verb` the resource in the namespace (a SelfSubjectAccessReview, which any user may create). */
  async canI(verb: string, group: string, resource: string): Promise<boolean> {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: this.namespace, verb, group, resource } } };
    const res: KubeResource = { group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview' };
    const r = await this.send('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', res, undefined, review);
    return this.ok<{ status?: { allowed?: boolean } }>(r, 'create', res).status?.allowed === true;
  }

  private ok<T>(r: { status: number; body: unknown }, verb: string, res: KubeResource, name?: string): T {
    if (r.status >= 200 && r.status < 300) return r.body as T;
    throw this.statusError(r.status, r.body, verb, res, name);
  }

  private statusError(status: number, body: unknown, verb: string, res: KubeResource, name?: string): ProviderError {
    const message = (body as { message?: string } | null)?.message ?? `HTTP ${status}`;
    const resource = res.group ? `${res.plural}.${res.group}` : res.plural;
    if (status === 401) {
      return new ProviderError(`The Kubernetes API server ${this.server} rejected zdd's credentials (401 Unauthorized, user "${this.user}")`, {
        code: 'kube-unauthorized',
        hint: 'The token or client certificate in the kubeconfig is wrong or expired: refresh it (e.g. re-run your cloud\'s `get-credentials`), then check with `kubectl auth whoami`.',
      });
    }
    if (status === 403) {
      // The fix is in the message too: in a failed rollback the hint printed is the engine's.
      return new ProviderError(`Kubernetes forbids user "${this.user}" to ${verb} ${resource}${name ? ` "${name}"` : ''} in namespace ${this.namespace} (403 Forbidden); a Role bound to "${this.user}" must grant it (docs/kubernetes.md, "RBAC: the minimal Role")`, {
        code: 'kube-forbidden',
        hint: `Grant it with a Role in namespace ${this.namespace}: apiGroups ["${res.group}"], resources ["${res.plural}"], verbs ["${verb}"] (docs/kubernetes.md lists the minimal Role). Check with \`kubectl auth can-i ${verb} ${resource} -n ${this.namespace}\`.`,
      });
    }
    return new ProviderError(`Kubernetes refused to ${verb} ${res.kind} ${name ?? ''} in namespace ${this.namespace}: ${message} (HTTP ${status})`, { code: 'kube-api' });
  }

  /** Whether any answer came from the API server in this command (from then on, its absence is ridden out). */
  private reached = false;

  /**
   * One request, retried while the API server is away (after it answered once in this command):
   * a replace that may have landed before the connection broke is safe to send again, because it
   * carries the resourceVersion it read (a 409 then means "read again"), and a create answers 409.
   */
  private async send(method: string, path: string, res: KubeResource, name?: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.sendOnce(method, path, res, name, body);
        if (r.status === 503 && this.reached && Date.now() - started < RETRY_BUDGET_MS) {
          await new Promise((done) => setTimeout(done, Math.min(2000, 100 * 2 ** attempt)));
          continue;
        }
        this.reached = true;
        return r;
      } catch (e) {
        const code = (e as { cause?: { code?: string } }).cause?.code ?? '';
        if (!this.reached || !RETRY_CODES.test(code) || Date.now() - started >= RETRY_BUDGET_MS) throw e;
        await new Promise((done) => setTimeout(done, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  private async sendOnce(method: string, path: string, res: KubeResource, name?: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    this.calls++;
    const url = new URL(this.server + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const lib = url.protocol === 'http:' ? http : https;
    try {
      return await new Promise((resolve, reject) => {
        const req = lib.request(
          url,
          {
            ...this.options,
            method,
            timeout: REQUEST_TIMEOUT_MS,
            headers: { ...(this.options.headers as Record<string, string>), accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (c: Buffer) => chunks.push(c));
            response.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = text;
              try {
                parsed = text ? JSON.parse(text) : null;
              } catch {
                // a proxy's HTML error page: keep the text
              }
              resolve({ status: response.statusCode ?? 0, body: parsed });
            });
            response.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000}s`), { code: 'ETIMEDOUT' })));
        req.on('error', reject);
        req.end(payload);
      });
    } catch (e) {
      throw this.networkError(e, res, name);
    }
  }

  private networkError(e: unknown, res: KubeResource, name?: string): ProviderError {
    const code = (e as { code?: string }).code ?? '';
    const what = `${res.kind}${name ? ` ${name}` : 's'}`;
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/.test(code)) {
      return new ProviderError(`TLS failure talking to the Kubernetes API server ${this.server} (${code}: ${(e as Error).message})`, {
        cause: e,
        code: 'kube-tls',
        hint: "The server's certificate is not signed by the kubeconfig's certificate-authority: fix certificate-authority(-data) for this cluster, or check that the server address is the cluster you mean.",
      });
    }
    const away = this.reached ? ` (still, after ${Math.round(RETRY_BUDGET_MS / 1000)}s of retries)` : '';
    return new ProviderError(`The Kubernetes API server ${this.server} is unreachable${away} (${code || (e as Error).message}) while reading ${what}`, {
      cause: e,
      code: 'kube-unreachable',
      hint: 'Check the cluster address in the kubeconfig, the network or VPN, and that the API server is up (`kubectl cluster-info`).',
    });
  }
}

/** A 404 on the collection itself: the API group or resource is not served (a CRD not installed). */
function isMissingType(body: unknown): boolean {
  const b = body as { kind?: string; details?: { name?: string } } | null;
  return !b || typeof b !== 'object' || b.kind !== 'Status' || !b.details?.name;
}

function notInstalled(res: KubeResource): ProviderError {
  return new ProviderError(`The cluster does not serve ${res.kind} (${res.group}/${res.version}): ${res.crd ? `the CRD ${res.crd} is not installed` : 'the API is missing'}`, {
    code: 'kube-crd-missing',
    hint: res.crd
      ? `Install ${res.group.startsWith('networking.istio') ? "Istio's CRDs (istioctl install, or the base chart)" : 'the Gateway API CRDs (kubectl apply -f the standard-install.yaml of gateway-api)'} or choose another router.`
      : 'Use a cluster that serves this API.',
  });
}

/** A named object that must exist (user-owned): exit 5 naming it. */
export function missing(res: KubeResource, name: string, namespace: string, hint?: string): ProviderError {
  return new ProviderError(`${res.kind} "${name}" does not exist in namespace ${namespace}`, {
    code: 'kube-missing',
    hint: hint ?? `Create it first (docs/kubernetes.md shows the manifests), or fix the name in deploy.config.ts (namespace: --namespace / provider.namespace).`,
  });
}
