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
import type { DeploymentRecord, DeploymentRequest, DeploymentRequests, LockInfo, LockLease, LockStore, RecordStore, RequestKind, StateStore } from '../core/state.js';
import { toProviderError } from '../aws/aws-errors.js';
import { parseStateJson, type JsonFileKind } from './atomic-file.js';
import { isDeploymentRecord, isDeploymentRequest, requestOf } from './record-shape.js';
import { forgetToken, holderProcess, newLockToken } from './lock-holder.js';
import { CLOCK_MARGIN_MS, conditionalLease, CORRUPT_LOCK_HINT, DEFAULT_LEASE_MS, isStoredLock, lockInfo, type StoredLock } from './stored-lock.js';

/**
 * S3 stamps Last-Modified and Date from one clock, each to the whole second: a lock is stale when
 * S3's Date is later than the lock object's Last-Modified by more than its lease plus this.
 */
export const S3_CLOCK_MARGIN_MS = 2_000;
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
  /** When S3 stored this version (its clock). */
  lastModified?: number;
  /** S3's clock when it answered (the response's Date header). */
  serverDate?: number;
}

const RECORD_KIND: JsonFileKind<DeploymentRecord> = {
  valid: isDeploymentRecord,
  what: 'State object',
  hint: 'Restore it from the records/ prefix next to it (or a previous object version), or delete it if you know production is on stable.',
};

const REQUEST_KIND: JsonFileKind<DeploymentRequest> = {
  valid: isDeploymentRequest,
  what: 'Deploy request object',
  hint: 'Delete it (it only asks a running deploy to abort or promote) and run the command again.',
};

/** Thin S3 access with errors translated for people: missing bucket, missing permission. */
class S3Objects {
  constructor(readonly client: S3Client, private readonly bucket: string) {}

  /** Read and parse an object; null when it does not exist; a damaged one is an error naming it. */
  async get<T>(key: string, kind: JsonFileKind<T>): Promise<StoredObject<T> | null> {
    const raw = await this.getRaw(key);
    if (!raw) return null;
    return { ...raw, value: parseStateJson(raw.body, `s3://${this.bucket}/${key}`, kind) };
  }

  /** Read an object's text without parsing it (to remove a damaged one). */
  async getRaw(key: string): Promise<(Omit<StoredObject<never>, 'value'> & { body: string }) | null> {
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: key });
    let serverDate: number | undefined;
    // The SDK drops the Date header from GetObject's output: read it off the raw response.
    command.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const date = (out.response as { headers?: Record<string, string> } | undefined)?.headers?.date;
        if (date && !Number.isNaN(Date.parse(date))) serverDate = Date.parse(date);
        return out;
      },
      { step: 'deserialize', name: 'zddServerDate' },
    );
    try {
      const res = await this.client.send(command);
      const body = (await res.Body?.transformToString('utf8')) ?? '';
      return { body, etag: res.ETag ?? '', lastModified: res.LastModified?.getTime(), serverDate };
    } catch (e) {
      if (isS3Error(e, 'NoSuchKey', 404)) return null;
      throw this.translate(e, 's3:GetObject', key);
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
    return (await this.objects.get(this.key(service, 'latest.json'), RECORD_KIND))?.value ?? null;
  }

  async save(record: DeploymentRecord): Promise<void> {
    // Each PUT is atomic: readers see the old or the new object, never half of one.
    await this.objects.put(this.key(record.service, `records/${record.id}.json`), record);
    await this.objects.put(this.key(record.service, 'latest.json'), record);
  }

  /** Its own object per deployment and kind (outside records/): one PUT, the record is never rewritten. */
  async request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void> {
    await this.objects.put(this.key(service, `requests/${deploymentId}.${kind}.json`), requestOf(request));
  }

  async requests(service: string, deploymentId: string): Promise<DeploymentRequests> {
    const out: DeploymentRequests = {};
    for (const kind of ['abort', 'promote'] as const) {
      const r = (await this.objects.get(this.key(service, `requests/${deploymentId}.${kind}.json`), REQUEST_KIND))?.value;
      if (r) out[kind] = requestOf(r);
    }
    return out;
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
    const records = await Promise.all(keys.map(async (k) => (await this.objects.get(k, RECORD_KIND))?.value ?? null));
    return records
      .filter((r): r is DeploymentRecord => r !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
  }
}

type LockObject = StoredLock;
const LOCK_KIND: JsonFileKind<LockObject> = { what: 'Lock object', hint: CORRUPT_LOCK_HINT, valid: isStoredLock };

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
    const got = await this.objects.get(this.key(service), LOCK_KIND);
    return got ? this.info(got) : null;
  }

  /** Removes the lock whoever holds it, also when the object is damaged (it is not parsed). */
  async forceRelease(service: string): Promise<boolean> {
    const existed = (await this.objects.getRaw(this.key(service))) !== null;
    // Stryker disable next-line ConditionalExpression: deleting a missing object succeeds (S3 answers 204); the check only saves a call
    if (existed) await this.objects.delete(this.key(service));
    return existed;
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const got = await this.objects.get(this.key(service), LOCK_KIND);
    const lock = this.newLock({ ...holder, deploymentId });
    if (!got) {
      const etag = await this.objects.put(this.key(service), lock, { ifNoneMatch: true });
      if (etag !== null) return this.lease(service, lock.token);
      forgetToken(lock.token);
      const now = await this.inspect(service);
      throw new LockHeldError(service, now?.holder ?? holder, now?.stale ?? false, now?.staleReason);
    }
    const info = this.info(got);
    // A live lock is never taken over, whoever holds it ("who" would be a token, never a pid).
    if (!info.stale) {
      forgetToken(lock.token);
      throw new LockHeldError(service, info.holder, false);
    }
    if (got.value.holder.deploymentId && got.value.holder.deploymentId !== deploymentId) {
      forgetToken(lock.token);
      throw new ZddError('lock-other-deploy', `Service "${service}" is locked by another deploy (${got.value.holder.deploymentId}), not ${deploymentId}`, {
        exitCode: ExitCode.LockHeld,
        hint: 'Run `zdd lock status` to see it.',
      });
    }
    // If-Match: if someone else took it over since we read it, we lose instead of both holding it.
    const etag = await this.objects.put(this.key(service), lock, { ifMatch: got.etag });
    if (etag === null) {
      forgetToken(lock.token);
      const now = await this.inspect(service);
      throw new LockHeldError(service, now?.holder ?? got.value.holder, now?.stale ?? false, now?.staleReason);
    }
    forgetToken(got.value.token);
    return this.lease(service, lock.token);
  }

  private newLock(holder: LockHolderInfo): LockObject {
    const token = newLockToken();
    return { holder: { ...holder, token }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token, process: holderProcess(holder) };
  }

  /** Staleness on S3's own clock (Date − Last-Modified), never the holder's against ours. */
  private info(got: StoredObject<LockObject>): LockInfo {
    if (got.lastModified !== undefined && got.serverDate !== undefined) {
      return lockInfo(got.value, got.serverDate - got.lastModified, S3_CLOCK_MARGIN_MS);
    }
    // No Date header (a proxy stripped it): the heartbeat as the holder wrote it, with the clock margin.
    return lockInfo(got.value, this.clock.now() - Date.parse(got.value.heartbeat), CLOCK_MARGIN_MS);
  }

  private lease(service: string, token: string): LockLease {
    const key = this.key(service);
    return conditionalLease(service, token, {
      renew: async () => {
        const got = await this.objects.get(key, LOCK_KIND);
        if (got?.value.token !== token) return got?.value ?? null;
        // If-Match: a take-over between our read and this write wins; the heartbeat fails.
        const next = await this.objects.put(key, { ...got.value, heartbeat: new Date(this.clock.now()).toISOString() }, { ifMatch: got.etag });
        if (next !== null) return true;
        return (await this.objects.get(key, LOCK_KIND))?.value ?? null;
      },
      free: async () => {
        const got = await this.objects.get(key, LOCK_KIND);
        // If-Match: a lock taken over between our read and the delete stays with its new holder.
        if (got && got.value.token === token) await this.objects.delete(key, { ifMatch: got.etag });
      },
    });
  }
}
