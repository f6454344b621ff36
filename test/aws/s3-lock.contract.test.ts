import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { describeLockFence, LEASE_MS } from '../state/lock-fence-contract.js';
import { motoAvailable, startMoto, type Moto } from '../helpers/moto.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * The fence contract (test/state/lock-fence-contract.ts) on the S3 lock store against moto: If-Match
 * on the ETag read. Apart from the other stores so the S3 lock's own mutation run
 * (stryker/modules.mjs, s3-lock) can run it without a kube-apiserver.
 */
let moto: Moto | undefined;
const s3Up = motoAvailable();
if (s3Up) {
  beforeAll(async () => {
    moto = await startMoto();
    const s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    await s3.send(new CreateBucketCommand({ Bucket: 'zdd-fence' }));
    s3.destroy();
  });
  afterAll(() => moto?.stop());
} else console.warn('Skipping the S3 lock store: moto_server not found (pip install "moto[server]")');
describeLockFence(
  'S3 (moto)',
  async () => {
    const client = new S3Client({ endpoint: moto!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const store = await createS3StateStore({ type: 's3', bucket: 'zdd-fence' }, { client, clock: systemClock, leaseMs: LEASE_MS });
    // Staleness is S3's own clock (Date − Last-Modified, whole seconds) plus its 2 s margin: real time.
    return { store: store.lock, makeStale: () => new Promise((r) => setTimeout(r, LEASE_MS + 3_100)) };
  },
  { skip: !s3Up },
);

