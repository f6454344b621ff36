import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockHeldError, type LockHolderInfo } from '../../src/core/errors.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { skipWithoutMoto, startMoto, type Moto } from '../helpers/moto.js';

/**
 * The S3 lock's edges on a real S3 emulator: staleness when a proxy strips S3's Date header (zdd's
 * clock then), take-over of a free, a live, another deploy's or a contested lock, a heartbeat or a
 * release that races a take-over, and how --lock-wait polls (on an injected clock). Races are made
 * by a step on the client that lets another machine write just before zdd's conditional request.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'zdd-lock-test';
const KEY = 'zdd/web/lock.json';
const LEASE_MS = 60_000;

function holder(over: Partial<LockHolderInfo> = {}): LockHolderInfo {
  return { who: 'ci', host: 'runner-7', pid: 4242, since: '2026-01-01T00:00:00.000Z', ...over };
}

/** An HTTP proxy in front of moto that drops the Date header from every answer (some proxies do). */
async function noDateProxy(target: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    res.sendDate = false;
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const headers = { ...answer.headers };
      delete headers.date;
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

describe.skipIf(skipWithoutMoto())('the S3 lock at its edges (moto)', () => {
  let moto: Moto;
  let proxy: Server;
  const clients: S3Client[] = [];
  beforeAll(async () => {
    moto = await startMoto();
    proxy = await noDateProxy(moto.endpoint);
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await new Promise((r) => proxy?.close(r));
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    await client().send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  function client(endpoint = moto.endpoint): S3Client {
    const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    clients.push(c);
    return c;
  }

  /**
   * A client that counts zdd's lock writes and, once, runs `race` just before the first request
   * `when` picks (another machine writing in between zdd's read and its conditional write).
   */
  function racing(endpoint = moto.endpoint) {
    const c = client(endpoint);
    const seen = { puts: 0 };
    let race: { when: (command: string, input: Record<string, unknown>) => boolean; run: () => Promise<unknown> } | undefined;
    c.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        if (context.commandName === 'PutObjectCommand' && input.Key === KEY) seen.puts++;
        if (race && race.when(context.commandName ?? '', input)) {
          const r = race;
          race = undefined;
          await r.run();
        }
        return next(args);
      },
      { step: 'initialize', name: 'testRace' },
    );
    return {
      client: c,
      seen,
      before: (when: (command: string, input: Record<string, unknown>) => boolean, run: () => Promise<unknown>) => (race = { when, run }),
    };
  }

  const storeOn = (c: S3Client, clock: FakeClock) => createS3StateStore({ type: 's3', bucket: BUCKET }, { client: c, clock, leaseMs: LEASE_MS });
  /** Another machine writes the lock object as its own (a take-over it won). */
  const writeLockAs = (pid: number) =>
    client().send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: KEY,
        Body: JSON.stringify({ holder: { ...holder({ pid, deploymentId: 'd1' }), token: `t-${pid}` }, heartbeat: new Date().toISOString(), leaseMs: LEASE_MS, token: `t-${pid}` }),
      }),
    );

  it('behind a proxy that strips S3\'s Date, staleness is the heartbeat against zdd\'s clock, with the clock margin', async () => {
    const clock = new FakeClock(Date.now());
    const st = await storeOn(client(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`), clock);
    await st.lock.acquire('web', holder({ deploymentId: 'd1' }), { waitMs: 0 });
    await clock.advance(LEASE_MS);
    expect((await st.lock.inspect('web'))?.stale).toBe(false);
    await clock.advance(CLOCK_MARGIN_MS + 1000);
    const info = await st.lock.inspect('web');
    expect(info?.stale).toBe(true);
    expect(info?.staleReason).toBe('no heartbeat for 91s (lease 60s)');
  });

  it('a stale lock of another deploy is not taken over: lock-other-deploy, exit 3, and where to look', async () => {
    const clock = new FakeClock(Date.now());
    const st = await storeOn(client(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`), clock);
    await st.lock.acquire('web', holder({ deploymentId: 'd1' }), { waitMs: 0 });
    await clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1000);
    await expect(st.lock.takeOver!('web', holder({ pid: 9 }), 'd2')).rejects.toMatchObject({
      code: 'lock-other-deploy',
      exitCode: 3,
      message: 'Service "web" is locked by another deploy (d1), not d2',
      hint: 'Run `zdd lock status` to see it.',
    });
  });

  it('a live lock is not taken over, and the refusal does not call it stale', async () => {
    const st = await storeOn(client(), new FakeClock(Date.now()));
    await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    const e = await st.lock.takeOver!('web', holder({ pid: 2 }), 'd1').catch((err) => err);
    expect(e).toBeInstanceOf(LockHeldError);
    expect(e.stale).toBe(false);
    expect(e.message).not.toContain('looks stale');
  });

  it('a free lock (the crashed deploy\'s was released) is taken over by creating it', async () => {
    const st = await storeOn(client(), new FakeClock(Date.now()));
    const lease = await st.lock.takeOver!('web', holder({ pid: 9 }), 'd1');
    const info = await st.lock.inspect('web');
    expect(info?.holder).toMatchObject({ pid: 9, deploymentId: 'd1', token: lease.token });
    await lease.heartbeat();
    await lease.release();
    expect(await st.lock.inspect('web')).toBeNull();
  });

  it('a free lock that another machine takes first: the take-over fails naming that machine', async () => {
    const r = racing();
    const st = await storeOn(r.client, new FakeClock(Date.now()));
    r.before((command, input) => command === 'PutObjectCommand' && input.IfNoneMatch === '*', () => writeLockAs(77));
    const e = await st.lock.takeOver!('web', holder({ pid: 9 }), 'd1').catch((err) => err);
    expect(e).toBeInstanceOf(LockHeldError);
    expect(e.holder.pid).toBe(77);
    expect(e.stale).toBe(false);
    expect((await st.lock.inspect('web'))?.holder.pid).toBe(77);
  });

  it('a stale lock two machines take over at once: the one whose conditional write comes second fails, naming the winner', async () => {
    const clock = new FakeClock(Date.now());
    const r = racing(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    const st = await storeOn(r.client, clock);
    await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    await clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1000);
    r.before((command, input) => command === 'PutObjectCommand' && typeof input.IfMatch === 'string', () => writeLockAs(77));
    const e = await st.lock.takeOver!('web', holder({ pid: 9 }), 'd1').catch((err) => err);
    expect(e).toBeInstanceOf(LockHeldError);
    expect(e.holder.pid).toBe(77);
    expect((await st.lock.inspect('web'))?.holder.pid).toBe(77);
  });

  it('a heartbeat that races a take-over loses: the lock is lost, naming who holds it now', async () => {
    const r = racing();
    const st = await storeOn(r.client, new FakeClock(Date.now()));
    const lease = await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    r.before((command, input) => command === 'PutObjectCommand' && typeof input.IfMatch === 'string', () => writeLockAs(77));
    await expect(lease.heartbeat()).rejects.toMatchObject({ code: 'lock-lost', message: expect.stringContaining('another process took it over. It is now held by ci@runner-7 (pid 77') });
    expect((await st.lock.inspect('web'))?.holder.pid).toBe(77);
  });

  it('after a take-over, the old holder\'s heartbeat names the new holder', async () => {
    const st = await storeOn(client(), new FakeClock(Date.now()));
    const lease = await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    await writeLockAs(77);
    await expect(lease.heartbeat()).rejects.toMatchObject({ code: 'lock-lost', message: expect.stringContaining('It is now held by ci@runner-7 (pid 77') });
  });

  it('a release that races a take-over leaves the new holder\'s lock in place', async () => {
    const r = racing();
    const st = await storeOn(r.client, new FakeClock(Date.now()));
    const lease = await st.lock.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    r.before((command) => command === 'DeleteObjectCommand', () => writeLockAs(77));
    await lease.release();
    expect((await st.lock.inspect('web'))?.holder.pid).toBe(77);
  });

  it('--lock-wait polls at pollMs, never past the deadline, then names the holder', async () => {
    const other = await storeOn(client(), new FakeClock(Date.now()));
    await other.lock.acquire('web', holder({ pid: 1 }), { waitMs: 0 });
    for (const [pollMs, puts] of [
      [700, 5], // at 0, 700, 1400, 2100 and 2500 (the deadline)
      [undefined, 4], // the default 1 s: at 0, 1000, 2000 and 2500
    ] as const) {
      const clock = new FakeClock(Date.now(), true);
      const started = clock.now();
      const r = racing();
      const st = await storeOn(r.client, clock);
      const e = await st.lock.acquire('web', holder({ pid: 2 }), { waitMs: 2500, pollMs }).catch((err) => err);
      expect(e).toBeInstanceOf(LockHeldError);
      expect(e.holder.pid).toBe(1);
      expect(clock.now() - started).toBe(2500);
      expect(r.seen.puts).toBe(puts);
    }
  });

  it('a lock released between a failed attempt and the read is tried again at once, without waiting', async () => {
    const other = await storeOn(client(), new FakeClock(Date.now()));
    await other.lock.acquire('web', holder({ pid: 1 }), { waitMs: 0 });
    const clock = new FakeClock(Date.now(), true);
    const started = clock.now();
    const r = racing();
    const st = await storeOn(r.client, clock);
    r.before((command, input) => command === 'GetObjectCommand' && input.Key === KEY, () => other.lock.forceRelease('web'));
    const lease = await st.lock.acquire('web', holder({ pid: 2 }), { waitMs: 5000, pollMs: 1000 });
    expect(clock.now()).toBe(started);
    expect((await st.lock.inspect('web'))?.holder.token).toBe(lease.token);
  });
});
