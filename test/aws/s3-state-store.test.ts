import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { LockHeldError, LockLostError, ProviderError, ZddError, type LockHolderInfo } from '../../src/core/errors.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { requestOnRecord } from '../../src/engine/remote-requests.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { motoEnv, skipWithoutMoto, startMoto, type Moto } from '../helpers/moto.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'zdd-state-test';

function holder(over: Partial<LockHolderInfo> = {}): LockHolderInfo {
  return { who: 'ci', host: 'runner-7', pid: 4242, since: '2026-01-01T00:00:00.000Z', ciRunUrl: 'https://ci.example/run/1', ...over };
}

function record(id: string, startedAt: string, over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    version: 1,
    id,
    service: 'web',
    strategy: 'canary',
    status: 'succeeded',
    stable: { id: 'v1', image: 'repo/web:v1' },
    candidate: { id: 'v2', image: 'repo/web:v2' },
    plan: [],
    stepIndex: 0,
    weights: { stable: 0, candidate: 100 },
    replicas: { stable: 0, candidate: 2 },
    stableReplicasBefore: 2,
    testRoute: null,
    healthy: ['candidate'],
    startedAt,
    updatedAt: startedAt,
    by: holder(),
    verdicts: [],
    ...over,
  };
}

describe.skipIf(skipWithoutMoto())('S3StateStore on moto', () => {
  let moto: Moto;
  let s3: S3Client;
  beforeAll(async () => {
    moto = await startMoto();
    s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
  });
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  const store = (clock = systemClock as FakeClock | typeof systemClock, prefix?: string) =>
    createS3StateStore({ type: 's3', bucket: BUCKET, prefix }, { client: s3, clock, leaseMs: 60_000 });

  it('saves records as JSON objects and reads the newest back', async () => {
    const st = await store(undefined, 'team/zdd');
    expect(st.location).toBe(`s3://${BUCKET}/team/zdd/`);
    expect(await st.records.latest('web')).toBeNull();
    await st.records.save(record('20260101T000000Z-aaaaaa', '2026-01-01T00:00:00.000Z'));
    await st.records.save(record('20260102T000000Z-bbbbbb', '2026-01-02T00:00:00.000Z', { candidate: { id: 'v3' } }));
    expect((await st.records.latest('web'))?.candidate.id).toBe('v3');
    const raw = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'team/zdd/web/records/20260101T000000Z-aaaaaa.json' }));
    expect(JSON.parse(await raw.Body!.transformToString()).candidate.id).toBe('v2');
    const history = await st.records.history('web', 10);
    expect(history.map((r) => r.id)).toEqual(['20260102T000000Z-bbbbbb', '20260101T000000Z-aaaaaa']);
    expect(await st.records.history('web', 1)).toHaveLength(1);
    expect(await st.records.history('other', 5)).toEqual([]);
  });

  it('a request from another machine is its own object: a newer checkpoint of the holder is never put back', async () => {
    const id = '20260101T000000Z-aaaaaa';
    const holderSt = await store(undefined, 'team/zdd');
    const other = await store(undefined, 'team/zdd');
    await holderSt.records.save(record(id, '2026-01-01T00:00:00.000Z', { status: 'running', stepIndex: 1 }));
    // The deploying machine checkpoints right after the other one read the record.
    const racing = { ...other.records, latest: async (service: string) => {
      const seen = await other.records.latest(service);
      await holderSt.records.save(record(id, '2026-01-01T00:00:00.000Z', { status: 'rolling-back', stepIndex: 1 }));
      return seen;
    } };
    racing.request = other.records.request.bind(other.records);
    racing.requests = other.records.requests.bind(other.records);
    racing.save = other.records.save.bind(other.records);
    racing.history = other.records.history.bind(other.records);
    expect(await requestOnRecord(racing, 'web', id, 'abort', new FakeClock(Date.UTC(2026, 0, 1, 0, 5)))).toBe(true);
    expect((await holderSt.records.latest('web'))?.status).toBe('rolling-back');
    expect(await holderSt.records.requests('web', id)).toEqual({ abort: { at: '2026-01-01T00:05:00.000Z' } });
    expect((await holderSt.records.history('web', 10)).map((r) => r.id)).toEqual([id]);
    const raw = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `team/zdd/web/requests/${id}.abort.json` }));
    expect(JSON.parse(await raw.Body!.transformToString())).toEqual({ at: '2026-01-01T00:05:00.000Z' });
  });

  it('a second machine reads the same record (state lives with the service)', async () => {
    const a = await store();
    await a.records.save(record('20260101T000000Z-aaaaaa', '2026-01-01T00:00:00.000Z'));
    // A machine that never deployed: its own client from the default credential chain (env here).
    const saved = { ...process.env };
    Object.assign(process.env, motoEnv(moto));
    try {
      const fresh = await createS3StateStore({ type: 's3', bucket: BUCKET }, { endpoint: moto.endpoint, region: 'us-east-1' });
      expect((await fresh.records.latest('web'))?.id).toBe('20260101T000000Z-aaaaaa');
    } finally {
      for (const k of Object.keys(motoEnv(moto))) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('gives the lock to one deploy; every other machine learns who holds it', async () => {
    // Separate stores = separate machines. Attempts are sequential on purpose: moto checks
    // If-None-Match and writes in two steps, so a true race there would test moto, not zdd
    // (S3's own answer to a concurrent conditional write, 409, is covered with a mocked client).
    const machines = await Promise.all([1, 2, 3].map(() => store()));
    const lease = await machines[0].lock.acquire('web', holder({ pid: 1 }), { waitMs: 0 });
    for (const [i, m] of machines.slice(1).entries()) {
      const e = await m.lock.acquire('web', holder({ pid: i + 2 }), { waitMs: 0 }).catch((err) => err);
      expect(e).toBeInstanceOf(LockHeldError);
      expect(e.exitCode).toBe(3);
      expect(e.message).toMatch(/locked by ci@runner-7 \(pid 1, CI run https:\/\/ci.example\/run\/1\)/);
    }
    const info = await machines[2].lock.inspect('web');
    expect(info?.stale).toBe(false);
    expect(info?.holder.pid).toBe(1);
    await lease.release();
    expect(await machines[1].lock.inspect('web')).toBeNull();
  });

  it('waits for the lock with --lock-wait and gets it when the holder releases', async () => {
    const st = await store();
    const first = await st.lock.acquire('web', holder({ pid: 1 }), { waitMs: 0 });
    const second = st.lock.acquire('web', holder({ pid: 2 }), { waitMs: 5000, pollMs: 50 });
    await new Promise((r) => setTimeout(r, 150));
    await first.release();
    const lease = await second;
    expect((await st.lock.inspect('web'))?.holder.pid).toBe(2);
    await lease.release();
  });

  it('staleness is S3\'s own clock: a holder whose clock is an hour behind is not stale; one that stops heartbeating is', async () => {
    // Last-Modified and Date have whole seconds: a 2s lease is stale once S3 says more than 2s + 2s margin passed.
    const short = (clock: FakeClock | typeof systemClock) => createS3StateStore({ type: 's3', bucket: BUCKET }, { client: s3, clock, leaseMs: 2000 });
    const behind = await short(new FakeClock(Date.now() - 3600_000));
    const lease = await behind.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    const reader = await short(systemClock);
    expect((await reader.lock.inspect('web'))?.stale).toBe(false);
    await lease.heartbeat();
    expect((await reader.lock.inspect('web'))?.stale).toBe(false);
    // Bounded wait for S3 to call it stale (about 5s of real time).
    let info = await reader.lock.inspect('web');
    for (const until = Date.now() + 12_000; !info?.stale && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 250));
      info = await reader.lock.inspect('web');
    }
    expect(info?.stale).toBe(true);
    expect(info?.staleReason).toMatch(/^no heartbeat for \d+s \(lease 2s\)$/);
    await expect(reader.lock.takeOver!('web', holder({ pid: 9 }), 'other-deploy')).rejects.toThrow(/another deploy \(d1\)/);
    const taken = await reader.lock.takeOver!('web', holder({ pid: 9 }), 'd1');
    expect((await reader.lock.inspect('web'))?.holder.token).toBe(taken.token);
    // The old holder lost it: its heartbeat says so (exit 4) and its release leaves the new holder alone.
    await expect(lease.heartbeat()).rejects.toMatchObject({ name: 'LockLostError', code: 'lock-lost', exitCode: 4 });
    await lease.release();
    expect((await reader.lock.inspect('web'))?.holder.pid).toBe(9);
    await taken.release();
    expect(await reader.lock.inspect('web')).toBeNull();
  });

  it('refuses to take over a live lock', async () => {
    const st = await store();
    await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    await expect(st.lock.takeOver!('web', holder({ pid: 2 }), 'd1')).rejects.toBeInstanceOf(LockHeldError);
  });

  it('force-release removes the lock whoever holds it and says whether there was one', async () => {
    const st = await store();
    const lease = await st.lock.acquire('web', holder(), { waitMs: 0 });
    expect(await st.lock.forceRelease('web')).toBe(true);
    expect(await st.lock.forceRelease('web')).toBe(false);
    await expect(lease.heartbeat()).rejects.toBeInstanceOf(ZddError);
    const again = await st.lock.acquire('web', holder({ pid: 3 }), { waitMs: 0 });
    await again.release();
  });

  it('a missing bucket is a provider error naming the bucket (exit 5)', async () => {
    const st = await createS3StateStore({ type: 's3', bucket: 'no-such-bucket-zdd' }, { client: s3 });
    const err = await st.records.latest('web').catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.exitCode).toBe(5);
    expect(err.message).toContain('"no-such-bucket-zdd" does not exist');
    expect(err.hint).toMatch(/create-bucket/);
  });

  it('a corrupt or empty lock object is reported with its key, and force-release removes it', async () => {
    const st = await store();
    for (const body of ['{oops', '']) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'zdd/web/lock.json', Body: body }));
      const err = await st.lock.inspect('web').catch((e) => e);
      expect(err).toMatchObject({ code: 'state-corrupt', exitCode: 2 });
      expect(err.message).toBe(`Lock object s3://${BUCKET}/zdd/web/lock.json ${body ? 'is not valid JSON' : 'is empty'}`);
      expect(err.hint).toContain('zdd lock release --force');
      expect(await st.lock.forceRelease('web')).toBe(true);
      expect(await st.lock.inspect('web')).toBeNull();
    }
  });
});

describe('S3StateStore errors (mocked S3)', () => {
  it('a concurrent conditional write (409 ConditionalRequestConflict) counts as a held lock', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const mock = mockClient(client);
    mock.on(PutObjectCommand).rejects(new S3ServiceException({ name: 'ConditionalRequestConflict', $fault: 'client', $metadata: { httpStatusCode: 409 }, message: 'conflict' }));
    const other = { holder: holder({ pid: 77 }), heartbeat: new Date().toISOString(), leaseMs: 120_000, token: 'x' };
    mock.on(GetObjectCommand).resolves({ ETag: '"e1"', Body: { transformToString: async () => JSON.stringify(other) } as never });
    const st = await createS3StateStore({ type: 's3', bucket: 'prod-state' }, { client });
    const err = await st.lock.acquire('web', holder(), { waitMs: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.message).toMatch(/pid 77/);
    mock.restore();
  });

  it('a heartbeat whose PUT landed but whose answer was lost (the retry fails its own If-Match) keeps the lock', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const mock = mockClient(client);
    mock.on(PutObjectCommand).resolvesOnce({ ETag: '"e1"' }).rejects(new S3ServiceException({ name: 'PreconditionFailed', $fault: 'client', $metadata: { httpStatusCode: 412 }, message: 'precondition' }));
    const st = await createS3StateStore({ type: 's3', bucket: 'prod-state' }, { client });
    const lease = await st.lock.acquire('web', holder(), { waitMs: 0 });
    const ours = { holder: holder(), heartbeat: new Date().toISOString(), leaseMs: 120_000, token: lease.token };
    mock.on(GetObjectCommand).resolves({ ETag: '"e2"', Body: { transformToString: async () => JSON.stringify(ours) } as never });
    await expect(lease.heartbeat()).resolves.toBeUndefined();
    // Someone else's token after the failed write is a lost lock.
    const theirs = { ...ours, holder: holder({ pid: 77 }), token: 'other' };
    mock.on(GetObjectCommand).resolves({ ETag: '"e3"', Body: { transformToString: async () => JSON.stringify(theirs) } as never });
    await expect(lease.heartbeat()).rejects.toBeInstanceOf(LockLostError);
    mock.restore();
  });

  it('AccessDenied names the missing s3 action and the resource', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const mock = mockClient(client);
    mock.on(PutObjectCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }));
    const st = await createS3StateStore({ type: 's3', bucket: 'prod-state' }, { client });
    const err = await st.lock.acquire('web', holder(), { waitMs: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toBe('Access denied: s3:PutObject on s3://prod-state/zdd/web/lock.json');
    expect(err.hint).toContain('arn:aws:s3:::prod-state/zdd/web/*');
    mock.restore();
  });
});
