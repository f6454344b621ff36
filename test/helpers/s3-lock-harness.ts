import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../../src/core/clock.js';
import type { LockHolderInfo } from '../../src/core/errors.js';
import type { LockStore } from '../../src/core/state.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { startMoto, type Moto } from './moto.js';

/**
 * The S3 lock store on a real S3 emulator (moto), for tests of its conditional writes: a client
 * that lets "another machine" act just before a chosen request (between the store's read and its
 * write), and a proxy that strips answer headers some S3 setups do not send (Date behind some
 * proxies): without S3's Date the store judges staleness on zdd's own clock, so a FakeClock makes
 * a lock stale without waiting for S3's seconds.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const BUCKET = 'zdd-lock-race';
export const KEY = 'zdd/web/lock.json';

export interface StrippingProxy {
  endpoint: string;
  close(): Promise<void>;
}

/** An HTTP proxy in front of `target` that drops `headers` (lower case) from every answer. */
export async function startStrippingProxy(target: string, headers: string[]): Promise<StrippingProxy> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    if (headers.includes('date')) res.sendDate = false;
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const kept = { ...answer.headers };
      for (const h of headers) delete kept[h];
      res.writeHead(answer.statusCode ?? 502, kept);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A store whose client counts writes to the lock object and can let another machine act first. */
export interface RacingStore {
  store: LockStore;
  clock: FakeClock;
  writes: { puts: number; deletes: number };
  /** Once, run `run` just before the first request `when` picks (by SDK command name). */
  before(when: (command: string) => boolean, run: () => Promise<unknown>): void;
}

/** moto, a Date-stripping proxy in front of it, and stores on either (one bucket, reset per test). */
export class S3LockBench {
  private clients: S3Client[] = [];
  private constructor(
    readonly moto: Moto,
    readonly noDate: StrippingProxy,
  ) {}

  static async start(): Promise<S3LockBench> {
    const moto = await startMoto();
    return new S3LockBench(moto, await startStrippingProxy(moto.endpoint, ['date']));
  }

  async reset(): Promise<void> {
    await this.moto.reset();
    await this.client(this.moto.endpoint).send(new CreateBucketCommand({ Bucket: BUCKET }));
  }

  client(endpoint: string): S3Client {
    const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    this.clients.push(c);
    return c;
  }

  /** A store on zdd's clock (behind the Date-stripping proxy unless `endpoint` says otherwise). */
  async store(leaseMs: number, endpoint = this.noDate.endpoint): Promise<RacingStore> {
    const c = this.client(endpoint);
    const writes = { puts: 0, deletes: 0 };
    let race: { when: (command: string) => boolean; run: () => Promise<unknown> } | undefined;
    c.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? '';
        if ((args.input as { Key?: string }).Key === KEY) {
          if (command === 'PutObjectCommand') writes.puts++;
          if (command === 'DeleteObjectCommand') writes.deletes++;
        }
        if (race?.when(command)) {
          const r = race;
          race = undefined;
          await r.run();
        }
        return next(args);
      },
      { step: 'initialize', name: 'testRace' },
    );
    const clock = new FakeClock(Date.now());
    const state = await createS3StateStore({ type: 's3', bucket: BUCKET }, { client: c, clock, leaseMs });
    return { store: state.lock, clock, writes, before: (when, run) => (race = { when, run }) };
  }

  /** Another machine writes the lock object as its own, with a fresh heartbeat. */
  writeLockAs(holder: LockHolderInfo, leaseMs: number): Promise<unknown> {
    const token = `t-${holder.pid}`;
    const body = { holder: { ...holder, token }, heartbeat: new Date().toISOString(), leaseMs, token };
    return this.client(this.moto.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: JSON.stringify(body) }));
  }

  /** Another machine deletes the lock object (`zdd lock release --force` there). */
  async removeLock(): Promise<void> {
    await this.client(this.moto.endpoint).send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY }));
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await this.noDate.close();
    await this.moto.stop();
  }
}
