import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { LockHeldError, ProviderError, ZddError, type LockHolderInfo } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { DeploymentRecord, LockInfo, LockLease, LockStore, RecordStore, StateStore } from '../core/state.js';
import { toProviderError } from '../aws/aws-errors.js';
import { DEFAULT_LEASE_MS } from './file-state-store.js';
import { holderIsDead } from './lock-holder.js';
import type { s3StateSchema } from './schema.js';

export type S3StateConfig = z.output<typeof s3StateSchema>;

export interface S3StateStoreOptions {
  region?: string;
  profile?: string;
  endpoint?: string;
  /** Clock for heartbeats, lease ages and lock-wait polling (default: the system clock). */
  clock?: Clock;
  /** A ready client (tests); otherwise one is created with the default credential chain. */
  client?: S3Client;
  leaseMs?: number;
}

/**
 * Records and the lock as objects in S3, next to the service, so `zdd status` / `zdd rollback`
 * work from any machine. The lock uses conditional writes (create with If-None-Match: *, renew
 * and release with If-Match: <etag>), the way Terraform's S3 backend locks its state.
 */
export async function createS3StateStore(config: S3StateConfig, opts: S3StateStoreOptions): Promise<StateStore> {
  const client =
    opts.client ??
    new S3Client({
      region: config.region ?? opts.region,
      profile: opts.profile,
      retryMode: 'adaptive',
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    });
  return new S3StateStore(client, config.bucket, normalisePrefix(config.prefix ?? 'zdd/'), opts.clock ?? systemClock, opts.leaseMs ?? DEFAULT_LEASE_MS);
}

function normalisePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

export class S3StateStore implements StateStore {
  readonly records: RecordStore;
  readonly lock: LockStore;
  private readonly objects: S3Objects;
  constructor(client: S3Client, readonly bucket: string, readonly prefix: string, clock: Clock, leaseMs: number) {
    this.objects = new S3Objects(client, bucket);
    this.records = new S3RecordStore(this.objects, prefix);
    this.lock = new S3LockStore(this.objects, prefix, clock, leaseMs);
  }
  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }
  /** Release the client's sockets. */
  close(): void {
    this.objects.client.destroy();
  }
}

interface StoredObject<T> {
  value: T;
  etag: string;
}

/** Thin S3 access with errors translated for people: missing bucket, missing permission. */
class S3Objects {
  constructor(readonly client: S3Client, private readonly bucket: string) {}

  async get<T>(key: string): Promise<StoredObject<T> | null> {
    let body: string;
    let etag: string;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = (await res.Body?.transformToString('utf8')) ?? '';
      etag = res.ETag ?? '';
    } catch (e) {
      if (isS3Error(e, 'NoSuchKey', 404)) return null;
      throw this.translate(e, 's3:GetObject', key);
    }
    try {
      return { value: JSON.parse(body) as T, etag };
    } catch {
      throw new ZddError('state-corrupt', `State object s3://${this.bucket}/${key} is not valid JSON`, {
        exitCode: ExitCode.Usage,
        hint: 'Restore it from the records/ prefix next to it (or a previous object version), or delete it if you know production is on stable.',
      });
    }
  }

  /** Write JSON. `ifNoneMatch` creates only; `ifMatch` replaces only that version. Returns the new ETag, or null when the condition failed. */
  async put(key: string, value: unknown, cond: { ifNoneMatch?: true; ifMatch?: string } = {}): Promise<string | null> {
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value, null, 2),
          ContentType: 'application/json',
          ...(cond.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}),
        }),
      );
      return res.ETag ?? '';
    } catch (e) {
      // 409 ConditionalRequestConflict: another conditional write to the key raced ours.
      if (isS3Error(e, 'PreconditionFailed', 412) || isS3Error(e, 'ConditionalRequestConflict', 409)) return null;
      throw this.translate(e, 's3:PutObject', key);
    }
  }

  /** Delete, only that version when `ifMatch` is given. Returns false when the condition failed. */
  async delete(key: string, cond: { ifMatch?: string } = {}): Promise<boolean> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}) }));
      return true;
    } catch (e) {
      if (isS3Error(e, 'NoSuchKey', 404)) return true;
      if (isS3Error(e, 'PreconditionFailed', 412)) return false;
      throw this.translate(e, 's3:DeleteObject', key);
    }
  }

  async list(prefix: string): Promise<_Object[]> {
    const out: _Object[] = [];
    let token: string | undefined;
    // Bounded: 20 pages of 1000 keys is far more records than anyone keeps.
    for (let page = 0; page < 20; page++) {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (e) {
        throw this.translate(e, 's3:ListBucket', prefix);
      }
      out.push(...(res.Contents ?? []));
      if (!res.IsTruncated || !res.NextContinuationToken) break;
      token = res.NextContinuationToken;
    }
    return out;
  }

  private translate(e: unknown, action: string, key: string): Error {
    if (isS3Error(e, 'NoSuchBucket', 404)) {
      return new ProviderError(`State bucket "${this.bucket}" does not exist`, {
        cause: e,
        code: 'state-bucket-missing',
        hint: `Create it (aws s3api create-bucket --bucket ${this.bucket}, with versioning on), or fix state.bucket in deploy.config.ts.`,
      });
    }
    if (isS3Error(e, 'PermanentRedirect', 301) || isS3Error(e, 'AuthorizationHeaderMalformed', 400)) {
      return new ProviderError(`State bucket "${this.bucket}" is in another region than the one zdd used`, {
        cause: e,
        code: 'state-bucket-region',
        hint: 'Set state.region in deploy.config.ts to the bucket\'s region.',
      });
    }
    const err = toProviderError(e, { action, resource: `s3://${this.bucket}/${key}` });
    if (err.code === 'access-denied') {
      const resource = action === 's3:ListBucket' ? `arn:aws:s3:::${this.bucket}` : `arn:aws:s3:::${this.bucket}/${key.replace(/[^/]+$/, '*')}`;
      return new ProviderError(err.message, { cause: e, code: err.code, hint: `Allow "${action}" on ${resource} for the IAM role or user zdd runs as (docs/aws.md lists the minimal policy).` });
    }
    return err;
  }
}

function isS3Error(e: unknown, name: string, status: number): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { Code?: string }).Code;
  if (e.name === name || code === name) return true;
  // Some S3 errors (HEAD-like, or bodies the emulator leaves out) arrive with only a status code.
  const http = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return http === status && (e.name === 'Unknown' || e.name === 'UnknownError' || e.name === `${status}`);
}

export class S3RecordStore implements RecordStore {
  constructor(private readonly objects: S3Objects, private readonly prefix: string) {}

  private key(service: string, rest: string): string {
    return `${this.prefix}${service}/${rest}`;
  }

  async latest(service: string): Promise<DeploymentRecord | null> {
    return (await this.objects.get<DeploymentRecord>(this.key(service, 'latest.json')))?.value ?? null;
  }

  async save(record: DeploymentRecord): Promise<void> {
    // Each PUT is atomic: readers see the old or the new object, never half of one.
    await this.objects.put(this.key(record.service, `records/${record.id}.json`), record);
    await this.objects.put(this.key(record.service, 'latest.json'), record);
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    const objects = await this.objects.list(this.key(service, 'records/'));
    // Deployment ids start with a UTC timestamp, so key order is start order.
    const keys = objects
      .map((o) => o.Key ?? '')
      .filter((k) => k.endsWith('.json'))
      .sort()
      .reverse()
      .slice(0, limit);
    const records = await Promise.all(keys.map(async (k) => (await this.objects.get<DeploymentRecord>(k))?.value ?? null));
    return records
      .filter((r): r is DeploymentRecord => r !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
  }
}

interface LockObject {
  holder: LockHolderInfo;
  heartbeat: string;
  leaseMs: number;
  token: string;
}

export class S3LockStore implements LockStore {
  constructor(
    private readonly objects: S3Objects,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly leaseMs: number,
  ) {}

  private key(service: string): string {
    return `${this.prefix}${service}/lock.json`;
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const lock = this.newLock(holder);
      const etag = await this.objects.put(this.key(service), lock, { ifNoneMatch: true });
      if (etag !== null) return this.lease(service, lock.token);
      const info = await this.inspect(service);
      if (info && this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      if (!info) continue; // released between our attempt and the read
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const got = await this.objects.get<LockObject>(this.key(service));
    return got ? this.info(got.value) : null;
  }

  async forceRelease(service: string): Promise<boolean> {
    const existed = (await this.objects.get<LockObject>(this.key(service))) !== null;
    if (existed) await this.objects.delete(this.key(service));
    return existed;
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const got = await this.objects.get<LockObject>(this.key(service));
    const lock = this.newLock({ ...holder, deploymentId });
    if (!got) {
      const etag = await this.objects.put(this.key(service), lock, { ifNoneMatch: true });
      if (etag !== null) return this.lease(service, lock.token);
      const now = await this.inspect(service);
      throw new LockHeldError(service, now?.holder ?? holder, now?.stale ?? false, now?.staleReason);
    }
    const info = this.info(got.value);
    if (!info.stale && got.value.holder.pid !== process.pid) throw new LockHeldError(service, info.holder, false);
    if (got.value.holder.deploymentId && got.value.holder.deploymentId !== deploymentId) {
      throw new ZddError('lock-other-deploy', `Service "${service}" is locked by another deploy (${got.value.holder.deploymentId}), not ${deploymentId}`, {
        exitCode: ExitCode.LockHeld,
        hint: 'Run `zdd lock status` to see it.',
      });
    }
    // If-Match: if someone else took it over since we read it, we lose instead of both holding it.
    const etag = await this.objects.put(this.key(service), lock, { ifMatch: got.etag });
    if (etag === null) {
      const now = await this.inspect(service);
      throw new LockHeldError(service, now?.holder ?? got.value.holder, now?.stale ?? false, now?.staleReason);
    }
    return this.lease(service, lock.token);
  }

  private newLock(holder: LockHolderInfo): LockObject {
    return {
      holder,
      heartbeat: new Date(this.clock.now()).toISOString(),
      leaseMs: this.leaseMs,
      token: `${holder.host}:${holder.pid}:${this.clock.now()}:${Math.random().toString(36).slice(2)}`,
    };
  }

  private info(lock: LockObject): LockInfo {
    const age = this.clock.now() - Date.parse(lock.heartbeat);
    let staleReason: string | undefined;
    if (holderIsDead(lock.holder)) staleReason = `process ${lock.holder.pid} on ${lock.holder.host} is no longer running`;
    else if (age > lock.leaseMs) staleReason = `no heartbeat for ${Math.round(age / 1000)}s (lease ${Math.round(lock.leaseMs / 1000)}s)`;
    return { holder: lock.holder, heartbeat: lock.heartbeat, leaseMs: lock.leaseMs, stale: staleReason !== undefined, staleReason };
  }

  private lease(service: string, token: string): LockLease {
    const key = this.key(service);
    let released = false;
    const lost = () =>
      new ZddError('lock-lost', `The lock of service "${service}" was released or taken by someone else while this command held it`, {
        exitCode: ExitCode.NeedsPerson,
        hint: 'Run `zdd lock status` and `zdd status` to see who acts on the service now.',
      });
    return {
      token,
      heartbeat: async () => {
        if (released) return;
        const got = await this.objects.get<LockObject>(key);
        if (!got || got.value.token !== token) throw lost();
        const next = await this.objects.put(key, { ...got.value, heartbeat: new Date(this.clock.now()).toISOString() }, { ifMatch: got.etag });
        if (next === null) throw lost();
      },
      release: async () => {
        if (released) return;
        released = true;
        const got = await this.objects.get<LockObject>(key);
        // If-Match: a lock taken over between our read and the delete stays with its new holder.
        if (got && got.value.token === token) await this.objects.delete(key, { ifMatch: got.etag });
      },
    };
  }
}
