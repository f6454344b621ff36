import type { IncomingMessage } from 'node:http';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import type { LockHolderInfo } from '../../src/core/errors.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { startLostAnswerProxy, type LostAnswerProxy } from '../helpers/lost-answer-proxy.js';
import { skipWithoutMoto, startMoto, type Moto } from '../helpers/moto.js';

/**
 * A lock write that landed on S3 but whose answer was lost: the SDK sends the PUT again (a reset
 * connection is a transient error) and the retry fails its own condition (412 on If-None-Match or
 * If-Match). The lock holds our token, so acquire and take-over must hand back the lease — not a
 * "held by" error naming ourselves, with the lock left behind unheartbeaten for the whole lease.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'zdd-lost-answer';
const LEASE_MS = 60_000;

function holder(over: Partial<LockHolderInfo> = {}): LockHolderInfo {
  return { who: 'ci', host: 'runner-7', pid: 4242, since: '2026-01-01T00:00:00.000Z', ...over };
}

/** The lock's conditional PUT (If-None-Match to create, If-Match to replace). */
const lockPut = (cond: 'if-none-match' | 'if-match') => (req: IncomingMessage) =>
  req.method === 'PUT' && (req.url ?? '').startsWith(`/${BUCKET}/zdd/web/lock.json`) && typeof req.headers[cond] === 'string';

describe.skipIf(skipWithoutMoto())('an S3 lock write whose answer was lost (moto behind a proxy)', () => {
  let moto: Moto;
  let proxy: LostAnswerProxy;
  const clients: S3Client[] = [];
  beforeAll(async () => {
    moto = await startMoto();
    // Without S3's Date, staleness is the heartbeat on zdd's (injected) clock: a lock goes stale without waiting.
    proxy = await startLostAnswerProxy(moto.endpoint, { stripDate: true });
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.close();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    await client().send(new CreateBucketCommand({ Bucket: BUCKET }));
    proxy.log.length = 0;
  });

  function client(): S3Client {
    const c = new S3Client({ endpoint: proxy.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    clients.push(c);
    return c;
  }
  const storeOn = (clock: FakeClock) => createS3StateStore({ type: 's3', bucket: BUCKET }, { client: client(), clock, leaseMs: LEASE_MS });
  /** The lock PUTs that went through the proxy: the one whose answer was lost, then the SDK's retry. */
  const lockPuts = () => proxy.log.filter((r) => r.method === 'PUT' && r.path.includes('/zdd/web/lock.json')).map(({ status, lost }) => ({ status, lost }));

  /** Ours by every test: inspect names us, a heartbeat lands, release frees it. */
  async function expectOurs(st: Awaited<ReturnType<typeof storeOn>>, lease: { token: string; heartbeat(): Promise<void>; release(): Promise<void> }, pid: number) {
    expect((await st.lock.inspect('web'))?.holder).toMatchObject({ pid, token: lease.token });
    await lease.heartbeat();
    await lease.release();
    expect(await st.lock.inspect('web')).toBeNull();
  }

  it('acquire: the SDK resends the create, meets its own lock (412), and the lock is ours — without waiting out --lock-wait', async () => {
    const clock = new FakeClock(Date.now(), true);
    const started = clock.now();
    const st = await storeOn(clock);
    proxy.loseNext(lockPut('if-none-match'));
    const lease = await st.lock.acquire('web', holder({ deploymentId: 'd1' }), { waitMs: 30_000 });
    expect(lockPuts()).toEqual([{ status: 200, lost: true }, { status: 412, lost: false }]);
    expect(clock.now()).toBe(started);
    await expectOurs(st, lease, 4242);
  });

  it('take-over of a free lock: the resent create meets its own lock, and the take-over holds', async () => {
    const st = await storeOn(new FakeClock(Date.now()));
    proxy.loseNext(lockPut('if-none-match'));
    const lease = await st.lock.takeOver!('web', holder({ pid: 9 }), 'd1');
    expect(lockPuts()).toEqual([{ status: 200, lost: true }, { status: 412, lost: false }]);
    await expectOurs(st, lease, 9);
  });

  it('take-over of a stale lock: the resent If-Match replace fails on its own new ETag, and the take-over holds', async () => {
    const clock = new FakeClock(Date.now());
    const st = await storeOn(clock);
    const crashed = await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    await clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1000);
    proxy.log.length = 0;
    proxy.loseNext(lockPut('if-match'));
    const lease = await st.lock.takeOver!('web', holder({ pid: 9 }), 'd1');
    expect(lockPuts()).toEqual([{ status: 200, lost: true }, { status: 412, lost: false }]);
    // The crashed holder's heartbeat finds the lock taken over, as after a take-over whose answer arrived.
    await expect(crashed.heartbeat()).rejects.toMatchObject({ code: 'lock-lost' });
    await expectOurs(st, lease, 9);
  });
});
