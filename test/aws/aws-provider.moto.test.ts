import { DescribeServicesCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { CreateRuleCommand, DescribeListenersCommand, DescribeRulesCommand, DescribeTagsCommand, ModifyLoadBalancerAttributesCommand, ModifyTargetGroupAttributesCommand, type Action } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { CheckFailedError, ConfigError, ProviderError } from '../../src/core/errors.js';
import type { RevisionSpec } from '../../src/core/provider.js';
import { AwsProvider } from '../../src/providers/aws/aws-provider.js';
import { drainSettings, lintDrains } from '../../src/engine/drain-lint.js';
import { createAwsClients } from '../../src/providers/aws/aws-clients.js';
import { motoEnv, skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { stackConfig, testContext } from './aws-context.js';
import { createMotoStack, createTargetBridge, motoClients, type MotoClients, type MotoStack, type TargetBridge } from './moto-stack.js';

describe.skipIf(skipWithoutMoto())('AWS provider on moto (ECS + ALB through the real SDK clients)', () => {
  const moto = useMoto();
  let c: MotoClients;
  let stack: MotoStack;
  let bridge: TargetBridge;
  const opened: { provider: AwsProvider; clients: MotoClients }[] = [];

  beforeEach(async () => {
    await moto.reset();
    c = motoClients(moto);
    stack = await createMotoStack(moto, c, { stickinessSeconds: 60 });
    bridge = createTargetBridge(c, stack);
    await bridge.syncOnce();
  });
  afterEach(async () => {
    for (const o of opened.splice(0)) {
      await o.provider.close();
      o.clients.destroy();
    }
    c.destroy();
  });

  /** A provider as a fresh `zdd` process would build it: its own clients, nothing cached. */
  function provider(over: Record<string, unknown> = {}, ctx = testContext()) {
    const clients = motoClients(moto);
    bridge.attach(clients.ecs);
    const p = new AwsProvider(stackConfig(over), ctx, { clients });
    opened.push({ provider: p, clients });
    return p;
  }

  async function listenerForward(arn = stack.listenerArn): Promise<Action> {
    const l = (await c.elb.send(new DescribeListenersCommand({ ListenerArns: [arn] }))).Listeners![0];
    return l.DefaultActions!.find((a) => a.Type === 'forward')!;
  }
  function rawWeights(a: Action): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of a.ForwardConfig?.TargetGroups ?? []) out[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return out;
  }
  async function tags(i: 0 | 1): Promise<Record<string, string>> {
    const res = await c.elb.send(new DescribeTagsCommand({ ResourceArns: [stack.targetGroupArns[i]] }));
    return Object.fromEntries((res.TagDescriptions![0].Tags ?? []).map((t) => [t.Key!, t.Value!]));
  }
  async function service(name: string) {
    return (await c.ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: [name] }))).services![0];
  }

  it('sees what runs before zdd ever deployed: the live slot by weight, its revision from the image tag', async () => {
    const p = provider();
    await p.preflight();
    const snap = await p.snapshot();
    expect(snap.weights).toEqual({ '1.4.1': 100 });
    expect(snap.revisions).toEqual([
      { revision: { id: '1.4.1', image: 'repo/web:1.4.1', meta: expect.objectContaining({ slot: 'web-a', taskDefinition: stack.taskDefinitionArn }) }, desired: 2, healthy: 2 },
    ]);
    expect(snap.testRoute).toBeNull();
    expect(snap.notes?.join('\n')).toMatch(/slot web-b .* is empty/);
  });

  it('runs a canary end to end: new task definition, header route, five verified weights, retire after the drain', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const ctx = testContext({ clock });
    const p = provider({ pollInterval: '1s' }, ctx);
    await p.preflight();
    const candidate: RevisionSpec = { id: '1.4.2', image: 'repo/web:1.4.2' };

    await p.platform.provision(candidate, 2);
    const b = await service('web-b');
    expect(b.desiredCount).toBe(2);
    const td = await c.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: b.taskDefinition!, include: ['TAGS'] }));
    expect(td.taskDefinition!.revision).toBe(2);
    expect(td.taskDefinition!.containerDefinitions!.map((x) => [x.name, x.image])).toEqual([
      ['web', 'repo/web:1.4.2'],
      ['log-router', 'amazon/aws-for-fluent-bit:2'],
    ]);
    expect(td.tags).toEqual([{ key: 'team', value: 'payments' }]);
    // The candidate's group joined the forward action at weight 0: health-checked, no traffic yet.
    expect(rawWeights(await listenerForward())).toEqual({ 'web-a': 1, 'web-b': 0 });
    expect(await tags(1)).toMatchObject({ 'zdd:revision': '1.4.2', 'zdd:image': 'repo/web:1.4.2', 'zdd:task-definition': b.taskDefinition, 'zdd:role': 'candidate', 'zdd:service': 'web' });
    expect(candidate.meta).toMatchObject({ slot: 'web-b', taskDefinition: b.taskDefinition });

    await p.platform.waitHealthy('1.4.2', { timeoutMs: 60_000 });

    await p.router.setTestRoute!('1.4.2');
    const rules = (await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!;
    // No priority configured: the highest free one, evaluated last before the default action.
    const headerRule = rules.find((r) => r.Priority === '50000')!;
    expect(headerRule.Conditions).toEqual([{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Canary', Values: ['always'] } }]);
    expect(headerRule.Actions![0].ForwardConfig!.TargetGroups![0].TargetGroupArn).toBe(stack.targetGroupArns[1]);
    expect((await p.snapshot()).testRoute).toBe('1.4.2');
    expect(await p.platform.endpoints('1.4.2')).toEqual({
      serviceUrl: `http://${stack.dnsName}`,
      testUrl: `http://${stack.dnsName}`,
      testHeaders: { 'X-Canary': 'always' },
      metricDimensions: { alb: { targetGroupArn: stack.targetGroupArns[1], loadBalancerArn: stack.loadBalancerArn, region: 'us-east-1' } },
    });

    for (const w of [10, 25, 50, 75, 100]) {
      await p.router.setWeights({ '1.4.1': 100 - w, '1.4.2': w });
      expect(await p.router.getWeights()).toEqual({ '1.4.1': 100 - w, '1.4.2': w });
      const fwd = await listenerForward();
      expect(rawWeights(fwd)).toEqual({ 'web-a': 100 - w, 'web-b': w });
      expect(fwd.ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: true, DurationSeconds: 60 });
    }
    expect((await tags(1))['zdd:role']).toBe('stable');
    // The slot zdd found running gets its identity recorded the first time zdd routes it.
    expect(await tags(0)).toMatchObject({ 'zdd:revision': '1.4.1', 'zdd:role': 'previous', 'zdd:task-definition': stack.taskDefinitionArn });

    await p.router.setTestRoute!(null);
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!.map((r) => r.Priority)).toEqual(['default']);

    // Retire waits the drain before it stops anything.
    const retired = p.platform.retire('1.4.1', { drainMs: 30_000 });
    for (let i = 0; i < 200 && clock.pending === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(clock.pending).toBe(1);
    await clock.advance(29_000);
    expect((await service('web-a')).desiredCount).toBe(2);
    await clock.advance(1_000);
    await retired;
    expect((await service('web-a')).desiredCount).toBe(0);
    expect((await tags(0))['zdd:role']).toBe('idle');
    // The idle group stays attached at weight 0.
    expect(rawWeights(await listenerForward())).toEqual({ 'web-a': 0, 'web-b': 100 });

    // A machine that never ran a deploy reads the same picture from AWS.
    const fresh = provider();
    const snap = await fresh.snapshot();
    expect(snap.weights).toEqual({ '1.4.1': 0, '1.4.2': 100 });
    expect(snap.revisions.map((r) => [r.revision.id, r.desired])).toEqual([
      ['1.4.1', 0],
      ['1.4.2', 2],
    ]);
  });

  it('puts the next candidate in the idle slot, copied from the live task definition', async () => {
    const p = provider();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.router.setWeights({ '1.4.2': 100, '1.4.1': 0 });
    await p.platform.retire('1.4.1', { drainMs: 0 });
    await p.platform.provision({ id: '1.4.3', image: 'repo/web:1.4.3' }, 3);
    const a = await service('web-a');
    expect(a.desiredCount).toBe(3);
    const td = await c.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: a.taskDefinition! }));
    expect(td.taskDefinition!.revision).toBe(3);
    expect(td.taskDefinition!.containerDefinitions![0].image).toBe('repo/web:1.4.3');
    expect((await tags(0))['zdd:revision']).toBe('1.4.3');
  });

  it('rolls back from a fresh machine with one listener write, by revision ids alone', async () => {
    const p = provider();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.router.setWeights({ '1.4.1': 50, '1.4.2': 50 });
    await p.close();

    const laptop = provider();
    await laptop.preflight();
    await laptop.router.setWeights({ '1.4.1': 100, '1.4.2': 0 });
    expect(await laptop.router.getWeights()).toEqual({ '1.4.1': 100, '1.4.2': 0 });
    expect(rawWeights(await listenerForward())).toEqual({ 'web-a': 100, 'web-b': 0 });
    await laptop.platform.retire('1.4.2', { drainMs: 0 });
    expect((await service('web-b')).desiredCount).toBe(0);
    expect((await tags(0))['zdd:role']).toBe('stable');
  });

  it('re-provisions a previous revision from its recorded task definition (rollback after a finished deploy)', async () => {
    const p = provider();
    const before = (await p.snapshot()).revisions[0].revision;
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.router.setWeights({ '1.4.2': 100 });
    await p.platform.retire('1.4.1', { drainMs: 0 });
    await p.platform.provision({ id: '1.4.3', image: 'repo/web:1.4.3' }, 2);
    await p.router.setWeights({ '1.4.2': 0, '1.4.3': 100 });
    await p.platform.retire('1.4.2', { drainMs: 0 });
    // 1.4.1's slot now runs 1.4.3; the record's spec still names 1.4.1's task definition.
    await p.platform.provision(before, 2);
    const b = await service('web-b');
    expect(b.taskDefinition).toBe(stack.taskDefinitionArn);
    expect((await tags(1))['zdd:revision']).toBe('1.4.1');
  });

  it('refuses to stop a revision that still has weight, and to reuse a slot that still has traffic', async () => {
    const p = provider();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.router.setWeights({ '1.4.1': 80, '1.4.2': 20 });
    await expect(p.platform.retire('1.4.2', { drainMs: 0 })).rejects.toThrow(/still sends it 20%/);
    const err = await p.platform.provision({ id: '1.4.3', image: 'repo/web:1.4.3' }, 2).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toMatch(/Slot web-b still gets 20% of production traffic \(revision 1.4.2\)/);
    expect((await service('web-b')).desiredCount).toBe(2);
    await expect(p.router.setWeights({ nope: 10, '1.4.1': 90 })).rejects.toThrow(/Revision "nope" runs in neither slot/);
  });

  it('weights a listener rule instead of the default action when configured', async () => {
    await c.elb.send(
      new CreateRuleCommand({
        ListenerArn: stack.listenerArn,
        Priority: 10,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }],
        Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: stack.targetGroupArns[0], Weight: 1 }] } }],
      }),
    );
    const p = provider({ rule: { priority: 10 }, testRoute: { priority: 5 } });
    await p.preflight();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 1);
    await p.router.setWeights({ '1.4.1': 70, '1.4.2': 30 });
    expect(await p.router.getWeights()).toEqual({ '1.4.1': 70, '1.4.2': 30 });
    const rules = (await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!;
    const rule = rules.find((r) => r.Priority === '10')!;
    expect(rawWeights(rule.Actions![0])).toEqual({ 'web-a': 70, 'web-b': 30 });
    expect(rule.Conditions![0].PathPatternConfig!.Values).toEqual(['/api/*']);
    // The default action is not zdd's in this mode.
    expect(rawWeights(await listenerForward())).toEqual({ 'web-a': 1 });
    await p.router.setTestRoute!('1.4.2');
    const after = (await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!;
    expect(after.map((r) => r.Priority).sort()).toEqual(['10', '5', 'default']);
    // The header rule matches only what the production rule matches, plus the header.
    expect(after.find((r) => r.Priority === '5')!.Conditions!.map((x) => x.Field)).toEqual(['path-pattern', 'http-header']);
    expect((await p.snapshot()).testRoute).toBe('1.4.2');
    await p.router.setTestRoute!(null);
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!.map((r) => r.Priority).sort()).toEqual(['10', 'default']);
  });

  it('points a test listener at the candidate and back at production', async () => {
    const p = provider({ testRoute: false, testListener: { port: 8443 } });
    expect(p.capabilities.testRoute).toBe(true);
    await p.preflight();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 1);
    await p.router.setTestRoute!('1.4.2');
    expect(rawWeights(await listenerForward(stack.testListenerArn))).toEqual({ 'web-b': 1 });
    expect((await p.snapshot()).testRoute).toBe('1.4.2');
    expect((await p.platform.endpoints('1.4.2')).testUrl).toBe(`http://${stack.dnsName}:8443`);
    await p.router.setTestRoute!(null);
    expect(rawWeights(await listenerForward(stack.testListenerArn))).toEqual({ 'web-a': 1 });
    // No header rule in this mode.
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!.map((r) => r.Priority)).toEqual(['default']);
  });

  it('`zdd down` removes the header rule and stops the idle slot, never the one serving production', async () => {
    const ctx = testContext();
    const p = provider({}, ctx);
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.router.setTestRoute!('1.4.2');
    await p.down();
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: stack.listenerArn }))).Rules!.map((r) => r.Priority)).toEqual(['default']);
    expect((await service('web-b')).desiredCount).toBe(0);
    expect((await service('web-a')).desiredCount).toBe(2);
    expect(rawWeights(await listenerForward())).toEqual({ 'web-a': 1, 'web-b': 0 });
    expect(ctx.emitted).toContainEqual({ type: 'info', message: expect.stringMatching(/Slot web-a keeps serving production \(100%\)/) });
  });

  it('reads what AWS waits: deregistration delays, idle timeout, essential stop timeouts, stickiness (the drain lint warns on it)', async () => {
    await moto.reset();
    stack = await createMotoStack(moto, c, { stickinessSeconds: 86_400 });
    await c.elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: stack.targetGroupArns[1], Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '60' }] }));
    await c.elb.send(new ModifyLoadBalancerAttributesCommand({ LoadBalancerArn: stack.loadBalancerArn, Attributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '45' }] }));
    const facts = await provider({}, testContext()).drainFacts();
    expect(facts).toEqual({
      deregistrationDelays: [
        { targetGroup: 'web-a', seconds: 300 },
        { targetGroup: 'web-b', seconds: 60 },
      ],
      idleTimeout: { loadBalancer: 'web-alb', seconds: 45 },
      stopTimeouts: [{ taskDefinition: 'task definition web:1', container: 'web', seconds: 30, defaulted: true }],
      stickiness: { seconds: 86_400 },
    });
    const stickiness = lintDrains(facts, drainSettings(5000, [])).find((f) => f.rule === 'stickiness-longer-than-bake');
    expect(stickiness?.message).toMatch(/stickiness is on for 86400s: clients with the cookie stay on their slot/);
  });

  it('drives ALB stickiness when `stickiness` is configured: on while traffic is split, off when one revision holds 100%; no warning', async () => {
    await moto.reset();
    stack = await createMotoStack(moto, c, { stickinessSeconds: 86_400 });
    const ctx = testContext();
    const p = provider({ stickiness: '10m' }, ctx);
    await p.preflight();
    expect(ctx.emitted.filter((e) => e.type === 'warn')).toEqual([]);
    // zdd owns the setting: the drain lint has no stickiness to warn about.
    expect((await p.drainFacts()).stickiness).toBeUndefined();
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    await p.platform.waitHealthy('1.4.2', { timeoutMs: 60_000 });
    const sticky = async () => (await listenerForward()).ForwardConfig!.TargetGroupStickinessConfig;
    await p.router.setWeights({ '1.4.1': 50, '1.4.2': 50 });
    expect(await sticky()).toEqual({ Enabled: true, DurationSeconds: 600 });
    // Promote (or a rollback): one revision holds everything, so pinned clients move at their next request.
    await p.router.setWeights({ '1.4.1': 0, '1.4.2': 100 });
    expect(await sticky()).toEqual({ Enabled: false, DurationSeconds: 600 });
    await p.router.setWeights({ '1.4.1': 90, '1.4.2': 10 });
    expect(await sticky()).toEqual({ Enabled: true, DurationSeconds: 600 });
    await p.router.setWeights({ '1.4.1': 100, '1.4.2': 0 });
    expect(await sticky()).toEqual({ Enabled: false, DurationSeconds: 600 });
    expect(await p.router.getWeights()).toEqual({ '1.4.1': 100, '1.4.2': 0 });
  });

  it('times out waiting for targets that never register, saying what it saw', async () => {
    const clients = motoClients(moto); // no bridge: nothing registers in the group
    const p = new AwsProvider(stackConfig(), testContext(), { clients });
    opened.push({ provider: p, clients });
    await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
    const err = await p.platform.waitHealthy('1.4.2', { timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toBe('Revision 1.4.2 (ECS service web-b) was not healthy after 20s: target group web-b: 0/2 targets healthy');
  });

  it('production clients: endpoint from AWS_ENDPOINT_URL, adaptive retry rides out throttling', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, motoEnv(moto));
    try {
      const clients = createAwsClients({ region: 'us-east-1' });
      let throttled = 0;
      clients.elb.middlewareStack.add(
        (next, context) => async (args) => {
          // Inside the retry loop: the first two DescribeListeners attempts are throttled like AWS does.
          if (context.commandName === 'DescribeListenersCommand' && throttled < 2) {
            throttled++;
            throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400 } });
          }
          return next(args);
        },
        { step: 'deserialize', name: 'throttleTwice', priority: 'low' },
      );
      const p = new AwsProvider(stackConfig(), testContext(), { clients });
      opened.push({ provider: p, clients: { ...clients, s3: c.s3, destroy: () => undefined } as unknown as MotoClients });
      const started = Date.now();
      await p.preflight();
      expect(throttled).toBe(2);
      console.log(`preflight through two throttles: ${Date.now() - started}ms`);
      expect(await clients.elb.config.retryStrategy()).toMatchObject({ mode: 'adaptive' });
    } finally {
      for (const k of Object.keys(motoEnv(moto))) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  describe('preflight names what is missing before anything changes (exit 5)', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['cluster', { cluster: 'staging' }, /ECS cluster "staging" not found/],
      ['service', { slots: [{ service: 'web-a', targetGroup: 'web-a' }, { service: 'web-c', targetGroup: 'web-b' }] }, /ECS service "web-c" in cluster "prod" not found \(MISSING\)/],
      ['target group', { slots: [{ service: 'web-a', targetGroup: 'web-a' }, { service: 'web-b', targetGroup: 'web-x' }] }, /Target group "web-x" not found/],
      ['load balancer', { listener: { loadBalancer: 'other-alb', port: 80 } }, /Load balancer .*other-alb.* not found/],
      ['listener port', { listener: { loadBalancer: 'web-alb', port: 443 } }, /Load balancer "web-alb" has no listener on port 443 \(ports: 80, 8443; region us-east-1, account 123456789012\)/],
      ['rule', { rule: { priority: 77 } }, /Listener rule with priority 77 not found/],
      ['paired target group', { slots: [{ service: 'web-a', targetGroup: 'web-b' }, { service: 'web-b', targetGroup: 'web-a' }] }, /ECS service "web-a" registers its tasks in .*web-a.*, not in target group "web-b"/],
    ];
    for (const [what, over, message] of cases) {
      it(what, async () => {
        const err = await provider(over).preflight().catch((e) => e);
        expect(err).toBeInstanceOf(ProviderError);
        expect(err.exitCode).toBe(5);
        expect(err.message).toMatch(message);
        expect(err.hint).toBeTruthy();
      });
    }

    it('a header rule priority taken by someone else: preflight does not care; setting the route names the rule', async () => {
      await c.elb.send(
        new CreateRuleCommand({ ListenerArn: stack.listenerArn, Priority: 1, Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/admin'] } }], Actions: [{ Type: 'forward', TargetGroupArn: stack.targetGroupArns[0] }] }),
      );
      const p = provider({ testRoute: { priority: 1 } });
      await p.preflight();
      await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
      await expect(p.router.setTestRoute!('1.4.2')).rejects.toThrow(/Priority 1 on listener .* is taken by another rule/);
    });

    it('a header rule that would come after the production rule is a config error when the route is set', async () => {
      await c.elb.send(
        new CreateRuleCommand({ ListenerArn: stack.listenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }], Actions: [{ Type: 'forward', TargetGroupArn: stack.targetGroupArns[0] }] }),
      );
      const p = provider({ rule: { priority: 10 }, testRoute: { priority: 20 } });
      await p.preflight();
      await p.platform.provision({ id: '1.4.2', image: 'repo/web:1.4.2' }, 2);
      const err = await p.router.setTestRoute!('1.4.2').catch((e) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('provider.testRoute.priority: must be lower than the production rule\'s priority 10');
    });
  });
});
