import { S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import type { LockStore, RecordStore, StateStore } from '../core/state.js';
import { S3LockStore } from './s3-lock-store.js';
import { S3Objects } from './s3-objects.js';
import { S3RecordStore } from './s3-record-store.js';
import type { s3StateSchema } from './schema.js';
import { DEFAULT_LEASE_MS } from './stored-lock.js';

export { S3_CLOCK_MARGIN_MS } from './s3-lock-store.js';

export type S3StateConfig = z.output<typeof s3StateSchema>;

export interface S3StateStoreOptions {
  /** Used when the config names no `region` (the AWS provider's, a flag's); else the SDK's chain. */
  region?: string;
  /** Used when the config names no `profile` (the AWS provider's, a flag's); else the SDK's chain. */
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
  // The bucket's own settings first: state may live in another region or account than the service.
  const profile = config.profile ?? opts.profile;
  const client =
    opts.client ??
    new S3Client({
      region: config.region ?? opts.region,
      profile,
      retryMode: 'adaptive',
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    });
  return new S3StateStore(client, config.bucket, normalisePrefix(config.prefix ?? 'zdd/'), opts.clock ?? systemClock, opts.leaseMs ?? DEFAULT_LEASE_MS, opts.client ? undefined : profile);
}

function normalisePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/** The S3 record store and lock store over one client and bucket. */
export class S3StateStore implements StateStore {
  readonly records: RecordStore;
  readonly lock: LockStore;
  private readonly objects: S3Objects;
  constructor(client: S3Client, readonly bucket: string, readonly prefix: string, clock: Clock, leaseMs: number, profile?: string) {
    this.objects = new S3Objects(client, bucket, profile);
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
