import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { LockHeldError, type LockHolderInfo } from '../../src/core/errors.js';
import type { LockLease, LockStore } from '../../src/core/state.js';
import { createKubernetesStateStore } from '../../src/state/kubernetes-state-store.js';
import { CLOCK_MARGIN_MS } from '../../src/state/stored-lock.js';
import { startKubeControlPlane, type KubeControlPlane } from '../helpers/kube.js';
import { startLostAnswerProxy, type LostAnswerProxy } from '../helpers/lost-answer-proxy.js';

/**
 * A Lease write that landed on the kube-apiserver but whose answer was lost: KubeApi sends it
 * again (the API server answered once in this command, so a reset connection is ridden out) and
 * the retry meets its own write — 409 AlreadyExists on the create, 409 Conflict on the replace
 * (its resourceVersion is now stale). The Lease holds our token, so acquire and take-over must
 * hand back the lease, not a "held by" error naming ourselves.
 */
const LEASE_MS = 60_000;
const kubeUp = spawnSync(resolve(import.meta.dirname, '../../scripts/build-kube-control-plane.sh'), ['--dir'], { stdio: 'ignore' }).status === 0;
if (!kubeUp) console.warn('Skipping the Lease lost-answer tests: kube-apiserver is not built (scripts/build-kube-control-plane.sh)');

function holder(over: Partial<LockHolderInfo> = {}): LockHolderInfo {
  return { who: 'ci', host: 'runner-7', pid: 4242, since: '2026-01-01T00:00:00.000Z', ...over };
}

/** The Lease's create (POST on the collection) or replace (PUT on zdd-web-lock). */
const leaseWrite = (method: 'POST' | 'PUT') => (req: IncomingMessage) => req.method === method && /\/apis\/coordination\.k8s\.io\/v1\/namespaces\/[^/]+\/leases(\/zdd-web-lock)?$/.test(req.url ?? '');

describe.skipIf(!kubeUp)('a Lease lock write whose answer was lost (kube-apiserver behind a proxy)', () => {
  let kube: KubeControlPlane;
  let proxy: LostAnswerProxy;
  let kubeconfig: string;
  beforeAll(async () => {
    kube = await startKubeControlPlane();
    const config = JSON.parse(readFileSync(kube.kubeconfig, 'utf8'));
    const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString('utf8');
    proxy = await startLostAnswerProxy(kube.server, { ca });
    // zdd talks plain HTTP to the proxy (client-node allows http:// only with insecure-skip-tls-verify),
    // which talks TLS, with the cluster's CA, to the API server.
    config.clusters[0].cluster = { server: proxy.url, 'insecure-skip-tls-verify': true };
    kubeconfig = join(kube.kubeconfig, '..', 'lost-answer.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify(config));
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await kube?.stop();
  });

  /** A store in a fresh namespace, or in `namespace` (a second machine on the same cluster). */
  async function storeOn(clock: FakeClock, namespace?: string): Promise<LockStore & { namespace: string }> {
    if (!namespace) {
      namespace = `lost-${Math.random().toString(36).slice(2, 8)}`;
      kube.kubectl(['create', 'namespace', namespace]);
    }
    proxy.log.length = 0;
    const store = await createKubernetesStateStore({ type: 'kubernetes' }, { kubeconfig, namespace }, { clock, leaseMs: LEASE_MS });
    return Object.assign(store.lock, { namespace });
  }
  const leaseWrites = () => proxy.log.filter((r) => r.method !== 'GET' && r.path.includes('/leases')).map(({ method, status, lost }) => ({ method, status, lost }));

  /** Ours by every test: inspect names us, a heartbeat lands, release frees it. */
  async function expectOurs(store: LockStore, lease: LockLease, pid: number) {
    expect((await store.inspect('web'))?.holder).toMatchObject({ pid, token: lease.token });
    await lease.heartbeat();
    await lease.release();
    expect(await store.inspect('web')).toBeNull();
  }

  it('acquire: the resent create meets its own Lease (409), and the lock is ours — without waiting out --lock-wait', async () => {
    const clock = new FakeClock(Date.now(), true);
    const store = await storeOn(clock);
    expect(await store.inspect('web')).toBeNull(); // as a deploy does: KubeApi retries only once the API server has answered
    const started = clock.now();
    proxy.loseNext(leaseWrite('POST'));
    const lease = await store.acquire('web', holder({ deploymentId: 'd1' }), { waitMs: 30_000 });
    expect(leaseWrites()).toEqual([{ method: 'POST', status: 201, lost: true }, { method: 'POST', status: 409, lost: false }]);
    expect(clock.now()).toBe(started);
    await expectOurs(store, lease, 4242);
  });

  it('take-over of a free Lease: the resent create meets its own Lease, and the take-over holds', async () => {
    const store = await storeOn(new FakeClock(Date.now()));
    proxy.loseNext(leaseWrite('POST'));
    const lease = await store.takeOver!('web', holder({ pid: 9 }), 'd1');
    expect(leaseWrites()).toEqual([{ method: 'POST', status: 201, lost: true }, { method: 'POST', status: 409, lost: false }]);
    await expectOurs(store, lease, 9);
  });

  it('take-over of a stale Lease: the resent replace fails on its own new resourceVersion (409), and the take-over holds', async () => {
    const clock = new FakeClock(Date.now());
    const store = await storeOn(clock);
    const crashed = await store.acquire('web', holder({ pid: 1, deploymentId: 'd1' }), { waitMs: 0 });
    await clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1000);
    proxy.log.length = 0;
    proxy.loseNext(leaseWrite('PUT'));
    const lease = await store.takeOver!('web', holder({ pid: 9 }), 'd1');
    expect(leaseWrites()).toEqual([{ method: 'PUT', status: 200, lost: true }, { method: 'PUT', status: 409, lost: false }]);
    // The crashed holder's heartbeat finds the lock taken over, as after a take-over whose answer arrived.
    await expect(crashed.heartbeat()).rejects.toMatchObject({ code: 'lock-lost' });
    await expectOurs(store, lease, 9);
  });

  it("a 409 that is someone else's write still loses: of two machines at once, one gets the Lease and the other is refused naming it", async () => {
    const clock = new FakeClock(Date.now());
    const a = await storeOn(clock);
    const b = await storeOn(clock, a.namespace);
    const race = async (what: string, run: (store: LockStore, pid: number) => Promise<LockLease>) => {
      const results = await Promise.allSettled([run(a, 1), run(b, 2)]);
      const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      expect(won, what).toHaveLength(1);
      const holder = (await a.inspect('web'))?.holder;
      expect(holder?.token, what).toBe(won[0].token);
      expect(lost[0], what).toBeInstanceOf(LockHeldError);
      expect(lost[0].holder.pid, what).toBe(holder?.pid);
      return won[0];
    };
    const first = await race('acquire (create)', (store, pid) => store.acquire('web', holder({ pid, deploymentId: 'd1' }), { waitMs: 0 }));
    await first.release();
    const second = await race('take-over of a free Lease (create)', (store, pid) => store.takeOver!('web', holder({ pid }), 'd1'));
    await clock.advance(LEASE_MS + CLOCK_MARGIN_MS + 1000);
    await race('take-over of a stale Lease (replace)', (store, pid) => store.takeOver!('web', holder({ pid }), 'd1'));
    await expect(second.heartbeat()).rejects.toMatchObject({ code: 'lock-lost' });
  });
});
