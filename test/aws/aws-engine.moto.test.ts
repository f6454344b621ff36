import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { DescribeListenersCommand, DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { FakeClock } from '../../src/core/clock.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import { Engine } from '../../src/engine/engine.js';
import { AwsProvider } from '../../src/providers/aws/aws-provider.js';
import { createS3StateStore } from '../../src/state/s3-state-store.js';
import { BUILT_IN_STRATEGIES, restorePrevious } from '../../strategies/index.js';
import { skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { countCalls, testContext } from './aws-context.js';
import { createMotoStack, createTargetBridge, motoClients, type MotoClients, type MotoStack } from './moto-stack.js';

// The real engine driving the AWS provider and the S3 state store on moto, in process, so the AWS
// API calls of one deploy can be counted at the SDK clients.
describe.skipIf(skipWithoutMoto())('engine + AWS provider + S3 state on moto', { timeout: 180_000 }, () => {
  const moto = useMoto();
  let c: MotoClients;
  let stack: MotoStack;
  let dir: string;
  const closers: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    await moto.reset();
    c = motoClients(moto);
    stack = await createMotoStack(moto, c);
    await createTargetBridge(c, stack).syncOnce();
    dir = mkdtempSync(join(tmpdir(), 'zdd-aws-engine-'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    c.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function harness(configOver: Record<string, unknown> = {}) {
    const config = validateConfig({
      service: 'web',
      provider: { type: 'aws', cluster: 'prod', slots: [{ service: 'web-a', targetGroup: 'web-a' }, { service: 'web-b', targetGroup: 'web-b' }], listener: { loadBalancer: 'web-alb', port: 80 } },
      state: { type: 's3', bucket: 'zdd-state' },
      replicas: 2,
      drain: '10s',
      health: { timeout: '5m' },
      strategies: {
        canary: { steps: [{ weight: 10, pause: '1m' }, { weight: 25, pause: '1m' }, { weight: 50, pause: '1m' }, { weight: 75, pause: '1m' }, { weight: 100 }] },
        'blue-green': { keepPrevious: '0s' },
      },
      ...configOver,
    });
    const clock = new FakeClock(Date.now(), true);
    const clients = motoClients(moto);
    createTargetBridge(c, stack).attach(clients.ecs);
    const aws = countCalls({ ecs: clients.ecs, elb: clients.elb });
    const provider = new AwsProvider(config.provider as never, { ...testContext({ clock }), configDir: dir }, { clients });
    const s3 = motoClients(moto).s3;
    const s3Calls = countCalls({ s3 });
    const store = await createS3StateStore({ type: 's3', bucket: 'zdd-state' }, { client: s3 });
    const bus = new EventBus(() => clock.now());
    const events: ZddEventWithTime[] = [];
    bus.on((e) => events.push(e));
    const engine = new Engine({
      config,
      configDir: dir,
      provider,
      store,
      clock,
      events: bus,
      strategy: (name) => BUILT_IN_STRATEGIES[name],
      restoreStrategy: restorePrevious,
      holder: { who: 'ci', host: 'runner', pid: process.pid, since: new Date().toISOString() },
      signal: new AbortController().signal,
    });
    closers.push(async () => {
      await provider.close();
      clients.destroy();
      s3.destroy();
    });
    return { engine, events, aws, s3Calls, store };
  }

  async function listenerWeights(): Promise<Record<string, number>> {
    const l = (await c.elb.send(new DescribeListenersCommand({ ListenerArns: [stack.listenerArn] }))).Listeners![0];
    const out: Record<string, number> = {};
    for (const g of l.DefaultActions![0].ForwardConfig!.TargetGroups!) out[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return out;
  }
  async function desired(): Promise<Record<string, number>> {
    const res = await c.ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web-a', 'web-b'] }));
    return Object.fromEntries(res.services!.map((s) => [s.serviceName!, s.desiredCount!]));
  }

  it('a 5-step canary: every weight verified, old slot retired; the AWS calls it makes are counted', async () => {
    const h = await harness();
    const outcome = await h.engine.deploy({ candidate: { id: '1.4.2', image: 'repo/web:1.4.2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.message).toMatch(/Deployed 1.4.2/);
    expect(outcome.exitCode).toBe(0);
    const traffic = h.events.filter((e) => e.type === 'traffic').map((e) => (e as Extract<ZddEventWithTime, { type: 'traffic' }>).byRevision);
    expect(traffic).toEqual([10, 25, 50, 75, 100].map((w) => ({ '1.4.1': 100 - w, '1.4.2': w })));
    expect(await listenerWeights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect(await desired()).toEqual({ 'web-a': 0, 'web-b': 2 });
    const record = await h.store.records.latest('web');
    expect(record?.status).toBe('succeeded');
    expect(record?.candidate.meta?.slot).toBe('web-b');

    const counts = Object.fromEntries([...h.aws.counts].sort(([a], [b]) => a.localeCompare(b)));
    const s3 = Object.fromEntries([...h.s3Calls.counts].sort(([a], [b]) => a.localeCompare(b)));
    console.log(`AWS API calls of one 5-step canary deploy: ECS+ELB ${h.aws.total()} ${JSON.stringify(counts)}; S3 state ${h.s3Calls.total()} ${JSON.stringify(s3)}`);
    // One listener write per step, plus one to attach the idle group at weight 0.
    expect(counts.ModifyListener).toBe(6);
    expect(counts.RegisterTaskDefinition).toBe(1);
    expect(counts.UpdateService).toBe(2);
    // The preflight's drain check reads 3 settings (two target groups' attributes, the load balancer's).
    expect(counts.DescribeTargetGroupAttributes).toBe(2);
    expect(counts.DescribeLoadBalancerAttributes).toBe(1);
    expect(h.aws.total()).toBeLessThan(65);
  });

  it('a failing analysis rolls back: one listener write to stable, then the candidate scaled to 0', async () => {
    const h = await harness({
      gates: { analysis: { checks: [{ type: 'command', run: 'exit 1' }] } },
      strategies: { canary: { steps: [{ weight: 20, pause: '1m' }, { weight: 100 }], analysis: ['analysis'] } },
    });
    const outcome = await h.engine.deploy({ candidate: { id: '1.4.2', image: 'repo/web:1.4.2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(1);
    expect(await listenerWeights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    // Attach the idle group, shift to 20%, and the rollback's single write back to stable.
    expect(h.aws.counts.get('ModifyListener')).toBe(3);
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
    expect((await h.store.records.latest('web'))?.status).toBe('rolled-back');
  });

  it('linear: equal steps, each read back', async () => {
    const h = await harness({ strategies: { linear: { stepPercent: 25, interval: '1m' } } });
    const outcome = await h.engine.deploy({ candidate: { id: '1.4.2', image: 'repo/web:1.4.2' }, strategy: 'linear', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(0);
    const traffic = h.events.filter((e) => e.type === 'traffic').map((e) => (e as Extract<ZddEventWithTime, { type: 'traffic' }>).byRevision['1.4.2']);
    expect(traffic).toEqual([25, 50, 75, 100]);
    expect(await listenerWeights()).toEqual({ 'web-a': 0, 'web-b': 100 });
  });

  it('blue-green: smoke through the header rule, one switch, the old slot stopped after the keep time', async () => {
    const h = await harness({ gates: { smoke: { checks: [{ type: 'command', run: 'test "$ZDD_TEST_HEADERS" = "X-Canary: always"' }] } } });
    const outcome = await h.engine.deploy({ candidate: { id: '1.4.2', image: 'repo/web:1.4.2' }, strategy: 'blue-green', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.message).toMatch(/Deployed 1.4.2/);
    const traffic = h.events.filter((e) => e.type === 'traffic').map((e) => (e as Extract<ZddEventWithTime, { type: 'traffic' }>).byRevision);
    expect(traffic).toEqual([{ '1.4.1': 0, '1.4.2': 100 }]);
    const checks = h.events.filter((e) => e.type === 'check').map((e) => (e as Extract<ZddEventWithTime, { type: 'check' }>).result);
    expect(checks.map((r) => [r.gate, r.verdict])).toEqual([['smoke', 'pass']]);
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!.map((r) => r.Priority)).toEqual(['default']);
    expect(await desired()).toEqual({ 'web-a': 0, 'web-b': 2 });
  });
});
