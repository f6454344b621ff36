import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { FileLockStore } from '../../src/state/file-lock-store.js';
import { MemoryLockStore } from '../../src/state/memory-state-store.js';
import { createKubernetesStateStore } from '../../src/state/kubernetes-state-store.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { startKubeControlPlane, type KubeControlPlane } from '../helpers/kube.js';
import { describeLockFence, LEASE_MS } from './lock-fence-contract.js';

/**
 * The fence contract (test/state/lock-fence-contract.ts) on the file store, the memory store (the
 * engine's unit tests) and a Kubernetes Lease; S3 runs it in test/aws/s3-lock.contract.test.ts.
 */
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describeLockFence('the file store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-fence-'));
  dirs.push(dir);
  const clock = new FakeClock(Date.UTC(2026, 11, 1, 12));
  return { store: new FileLockStore(dir, clock, LEASE_MS), makeStale: () => clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1_000) };
});

describeLockFence('the memory store', async () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 1, 12));
  return { store: new MemoryLockStore(clock, LEASE_MS), makeStale: () => clock.advance(LEASE_MS + 1_000) };
});

let kube: KubeControlPlane | undefined;
const kubeUp = spawnSync(resolve(import.meta.dirname, '../../scripts/build-kube-control-plane.sh'), ['--dir'], { stdio: 'ignore' }).status === 0;
if (kubeUp) {
  beforeAll(async () => {
    kube = await startKubeControlPlane();
  }, 120_000);
  afterAll(() => kube?.stop());
} else console.warn('Skipping the Kubernetes lock store: kube-apiserver is not built (scripts/build-kube-control-plane.sh)');
describeLockFence(
  'a Kubernetes Lease (kube-apiserver)',
  async () => {
    const namespace = `fence-${Math.random().toString(36).slice(2, 8)}`;
    kube!.kubectl(['create', 'namespace', namespace]);
    const clock = new FakeClock(Date.UTC(2026, 11, 1, 12));
    const store = await createKubernetesStateStore({ type: 'kubernetes' }, { kubeconfig: kube!.kubeconfig, namespace }, { clock, leaseMs: LEASE_MS });
    return { store: store.lock, makeStale: () => clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1_000) };
  },
  { skip: !kubeUp },
);
