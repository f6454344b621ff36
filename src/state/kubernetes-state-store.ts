import type { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { LockHeldError, type LockHolderInfo } from '../core/errors.js';
import type { DeploymentRecord, DeploymentRequest, DeploymentRequests, LockFence, LockInfo, LockLease, LockStore, RecordStore, RequestKind, StateStore } from '../core/state.js';
import { KubeApi, KubeConflict, RESOURCES, type KubeAccess, type KubeObject } from '../providers/kubernetes/kube-api.js';
import { MANAGED_BY, SERVICE_LABEL } from '../providers/kubernetes/schema.js';
import { parseStateJson, type JsonFileKind } from './atomic-file.js';
import { forgetToken, holderProcess, newLockToken } from './lock-holder.js';
import { isDeploymentRecord, isDeploymentRequest, requestOf } from './record-shape.js';
import type { kubernetesStateSchema } from './schema.js';
import { CLOCK_MARGIN_MS, conditionalLease, CORRUPT_LOCK_HINT, DEFAULT_LEASE_MS, isStoredLock, lockInfo, takeOverRefusal, type StoredLock } from './stored-lock.js';

export type KubernetesStateConfig = z.output<typeof kubernetesStateSchema>;

/** Label telling zdd's state ConfigMaps apart: `record`, `latest` or `request`. */
const STATE_LABEL = 'zdd.dev/state';
/** The whole StoredLock (holder, token, heartbeat) on the Lease, whose own fields say the basics for kubectl. */
const LOCK_ANNOTATION = 'zdd.dev/lock';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
interface Lease extends KubeObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string };
}

const RECORD_KIND: JsonFileKind<DeploymentRecord> = {
  valid: isDeploymentRecord,
  what: 'State ConfigMap',
  hint: 'Delete it if you know production is on stable (kubectl delete configmap …), then run `zdd status`.',
};
const REQUEST_KIND: JsonFileKind<DeploymentRequest> = {
  valid: isDeploymentRequest,
  what: 'Deploy request ConfigMap',
  hint: 'Delete it (it only asks a running deploy to abort or promote) and run the command again.',
};
const LOCK_KIND: JsonFileKind<StoredLock> = { what: 'Lock Lease', hint: CORRUPT_LOCK_HINT, valid: isStoredLock };

/**
 * Records and requests as ConfigMaps and the lock as a coordination.k8s.io/v1 Lease in the
 * service's namespace, so `zdd status`, `zdd rollback` and `zdd flag kill` work from any machine
 * with cluster access. The lock is compare-and-swap on the Lease's resourceVersion (create fails
 * when it exists; renew and release carry the version read), like the S3 store's ETags.
 */
export async function createKubernetesStateStore(config: KubernetesStateConfig, access: KubeAccess, opts: { clock?: Clock; leaseMs?: number } = {}): Promise<KubernetesStateStore> {
  const api = await KubeApi.connect({ kubeconfig: config.kubeconfig ?? access.kubeconfig, context: config.context ?? access.context, namespace: config.namespace ?? access.namespace });
  return new KubernetesStateStore(api, opts.clock ?? systemClock, opts.leaseMs ?? DEFAULT_LEASE_MS);
}

export class KubernetesStateStore implements StateStore {
  readonly records: RecordStore;
  readonly lock: LockStore;
  constructor(readonly api: KubeApi, clock: Clock, leaseMs: number) {
    this.records = new ConfigMapRecordStore(api);
    this.lock = new LeaseLockStore(api, clock, leaseMs);
  }
  get location(): string {
    return `ConfigMaps and a Lease in namespace ${this.api.namespace} (${this.api.server})`;
  }
}

/** A ConfigMap name from parts (lower case, "-", at most 253 characters). */
function objectName(...parts: string[]): string {
  return parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 253);
}

/** Label on a request ConfigMap naming the deploy it is for, so one list reads all of a deploy's requests. */
const DEPLOYMENT_LABEL = 'zdd.dev/deployment';

class ConfigMapRecordStore implements RecordStore {
  /** resourceVersion of each ConfigMap this process last wrote: the next save replaces it in one call. */
  private readonly written = new Map<string, string>();
  constructor(private readonly api: KubeApi) {}

  async latest(service: string): Promise<DeploymentRecord | null> {
    const cm = await this.api.get<ConfigMap>(RESOURCES.configMap, objectName('zdd', service, 'latest'));
    return cm ? this.parse(cm, RECORD_KIND) : null;
  }

  async save(record: DeploymentRecord): Promise<void> {
    const json = JSON.stringify(record);
    await this.put(objectName('zdd', record.service, 'record', record.id), record.service, 'record', json);
    await this.put(objectName('zdd', record.service, 'latest'), record.service, 'latest', json);
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    const cms = await this.api.list<ConfigMap>(RESOURCES.configMap, `${SERVICE_LABEL}=${service},${STATE_LABEL}=record`);
    return cms
      .map((cm) => this.parse(cm, RECORD_KIND))
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id))
      .slice(0, limit);
  }

  async request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void> {
    await this.put(objectName('zdd', service, 'request', deploymentId, kind), service, 'request', JSON.stringify(requestOf(request)), { [DEPLOYMENT_LABEL]: labelValue(deploymentId), 'zdd.dev/request': kind });
  }

  /** One list call (a running deploy polls this during pauses). */
  async requests(service: string, deploymentId: string): Promise<DeploymentRequests> {
    const out: DeploymentRequests = {};
    const cms = await this.api.list<ConfigMap>(RESOURCES.configMap, `${SERVICE_LABEL}=${service},${STATE_LABEL}=request,${DEPLOYMENT_LABEL}=${labelValue(deploymentId)}`);
    for (const kind of ['abort', 'promote'] as const) {
      const cm = cms.find((c) => c.metadata.name === objectName('zdd', service, 'request', deploymentId, kind));
      if (cm) out[kind] = requestOf(this.parse(cm, REQUEST_KIND));
    }
    return out;
  }

  private parse<T>(cm: ConfigMap, kind: JsonFileKind<T>): T {
    return parseStateJson(cm.data?.['value.json'] ?? '', `ConfigMap ${cm.metadata.name} in namespace ${this.api.namespace}`, kind);
  }

  /**
   * Replace with the resourceVersion this process last wrote (one call), else create; a 409 or a
   * name taken reads it again and replaces with the version read (a record has one writer: the lock holder).
   */
  private async put(name: string, service: string, state: string, value: string, labels: Record<string, string> = {}): Promise<void> {
    const body: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, labels: { ...MANAGED_BY, [SERVICE_LABEL]: service, [STATE_LABEL]: state, ...labels } },
      data: { 'value.json': value },
    };
    const known = this.written.get(name);
    if (known) {
      try {
        const done = await this.api.replace<ConfigMap>(RESOURCES.configMap, { ...body, metadata: { ...body.metadata, resourceVersion: known } });
        this.written.set(name, done.metadata.resourceVersion ?? '');
        return;
      } catch (e) {
        if (!(e instanceof KubeConflict)) throw e;
      }
    }
    const created = await this.api.create<ConfigMap>(RESOURCES.configMap, body);
    const done = created ?? (await this.api.update<ConfigMap>(RESOURCES.configMap, name, (cm) => ({ ...cm, metadata: { ...cm.metadata, labels: body.metadata.labels }, data: body.data })));
    this.written.set(name, done.metadata.resourceVersion ?? '');
  }
}

class LeaseLockStore implements LockStore {
  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
    private readonly leaseMs: number,
  ) {}

  private name(service: string): string {
    return objectName('zdd', service, 'lock');
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const lock = this.newLock(holder);
      if (await this.api.create(RESOURCES.lease, this.leaseObject(service, lock))) return this.lease(service, lock.token);
      // A create sent again after the API server went away mid-answer meets its own Lease (409): our token there means we hold it.
      const got = await this.read(service);
      if (got?.lock.token === lock.token) return this.lease(service, lock.token);
      forgetToken(lock.token);
      const info = got ? this.info(got.lock) : null;
      if (info && this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      if (!info) continue; // released between our attempt and the read
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const got = await this.read(service);
    return got ? this.info(got.lock) : null;
  }

  async forceRelease(service: string): Promise<boolean> {
    return this.api.delete(RESOURCES.lease, this.name(service));
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const got = await this.read(service);
    const lock = this.newLock({ ...holder, deploymentId });
    // A create or replace sent again after the API server went away mid-answer meets its own write
    // (409): our token on the Lease means the take-over landed; anyone else's means we lost.
    const confirmOurs = async (fallback: LockHolderInfo): Promise<void> => {
      const now = await this.read(service);
      if (now?.lock.token === lock.token) return;
      forgetToken(lock.token);
      const info = now ? this.info(now.lock) : null;
      throw new LockHeldError(service, info?.holder ?? fallback, info?.stale ?? false, info?.staleReason);
    };
    if (!got) {
      if (!(await this.api.create(RESOURCES.lease, this.leaseObject(service, lock)))) await confirmOurs(holder);
      return this.lease(service, lock.token);
    }
    const refusal = takeOverRefusal(service, this.info(got.lock), got.lock, deploymentId);
    if (refusal) {
      forgetToken(lock.token);
      throw refusal;
    }
    // The resourceVersion read: if someone else took it over since, we lose instead of both holding it.
    try {
      await this.api.replace(RESOURCES.lease, { ...this.leaseObject(service, lock), metadata: { ...this.leaseObject(service, lock).metadata, resourceVersion: got.obj.metadata.resourceVersion } });
    } catch (e) {
      if (!(e instanceof KubeConflict)) throw e;
      await confirmOurs(got.lock.holder);
    }
    forgetToken(got.lock.token);
    return this.lease(service, lock.token);
  }

  /**
   * Compare-and-swap on the resourceVersion read: a holder that renewed first keeps its Lease.
   * `free` deletes the Lease with the fence's own resourceVersion as a precondition; the old holder
   * then learns only that its lock was released.
   */
  async fence(service: string, deploymentId: string, holder: LockHolderInfo): Promise<LockFence | null> {
    const got = await this.read(service);
    if (!got || !this.info(got.lock).stale || got.lock.holder.deploymentId !== deploymentId) return null;
    const lock = this.newLock({ ...holder, deploymentId });
    const body = this.leaseObject(service, lock);
    try {
      await this.api.replace(RESOURCES.lease, { ...body, metadata: { ...body.metadata, resourceVersion: got.obj.metadata.resourceVersion } });
    } catch (e) {
      forgetToken(lock.token);
      if (e instanceof KubeConflict) return null;
      throw e;
    }
    forgetToken(got.lock.token);
    return {
      free: async () => {
        forgetToken(lock.token);
        const now = await this.read(service);
        if (now?.lock.token === lock.token) await this.api.delete(RESOURCES.lease, this.name(service), { resourceVersion: now.obj.metadata.resourceVersion });
      },
    };
  }

  private newLock(holder: LockHolderInfo): StoredLock {
    const token = newLockToken();
    return { holder: { ...holder, token }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token, process: holderProcess(holder) };
  }

  private leaseObject(service: string, lock: StoredLock): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name(service), labels: { ...MANAGED_BY, [SERVICE_LABEL]: service }, annotations: { [LOCK_ANNOTATION]: JSON.stringify(lock) } },
      spec: {
        holderIdentity: `${lock.holder.who}@${lock.holder.host} pid ${lock.holder.pid}`,
        leaseDurationSeconds: Math.ceil(lock.leaseMs / 1000),
        acquireTime: microTime(lock.holder.since ?? lock.heartbeat),
        renewTime: microTime(lock.heartbeat),
      },
    };
  }

  private async read(service: string): Promise<{ obj: Lease; lock: StoredLock } | null> {
    const obj = await this.api.get<Lease>(RESOURCES.lease, this.name(service));
    if (!obj) return null;
    const lock = parseStateJson(obj.metadata.annotations?.[LOCK_ANNOTATION] ?? '', `Lease ${obj.metadata.name} in namespace ${this.api.namespace}`, LOCK_KIND);
    return { obj, lock };
  }

  /** Staleness from the holder's heartbeat on our clock, with the clock margin (the Lease's times are the holder's). */
  private info(lock: StoredLock): LockInfo {
    return lockInfo(lock, this.clock.now() - Date.parse(lock.heartbeat), CLOCK_MARGIN_MS);
  }

  private lease(service: string, token: string): LockLease {
    return conditionalLease(service, token, {
      renew: async () => {
        const got = await this.read(service);
        if (got?.lock.token !== token) return got?.lock ?? null;
        const next = { ...got.lock, heartbeat: new Date(this.clock.now()).toISOString() };
        const body = this.leaseObject(service, next);
        try {
          // Compare-and-swap on the resourceVersion read: a take-over in between wins; the heartbeat fails.
          await this.api.replace(RESOURCES.lease, { ...body, metadata: { ...body.metadata, resourceVersion: got.obj.metadata.resourceVersion } });
          return true;
        } catch (e) {
          if (!(e instanceof KubeConflict)) throw e;
          // A replace sent again after the API server went away mid-answer meets its own write (409):
          // our token still on the Lease means the heartbeat landed, not that someone took it over.
          const now = (await this.read(service))?.lock ?? null;
          return now?.token === token ? true : now;
        }
      },
      free: async () => {
        const got = await this.read(service);
        // The resourceVersion as a precondition: a lock taken over in between stays with its new holder.
        if (got && got.lock.token === token) await this.api.delete(RESOURCES.lease, this.name(service), { resourceVersion: got.obj.metadata.resourceVersion });
      },
    });
  }
}

/** A label value (at most 63 characters of [A-Za-z0-9._-]). */
function labelValue(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
function microTime(iso: string): string {
  const d = new Date(Date.parse(iso) || Date.now());
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
