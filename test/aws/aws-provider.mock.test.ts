import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient, ECSServiceException, type Service } from '@aws-sdk/client-ecs';
import {
  AddTagsCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  ModifyListenerCommand,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { CheckFailedError, ProviderError } from '../../src/core/errors.js';
import { AwsProvider } from '../../src/providers/aws/aws-provider.js';
import { targetVerdict } from '../../src/providers/aws/ecs-platform.js';
import { forwardWeights, toPercents, withForwardWeights } from '../../src/providers/aws/forward-action.js';
import { idFromImage } from '../../src/core/image-ref.js';
import { taskDefinitionWithImage } from '../../src/providers/aws/task-definition.js';
import { stackConfig, testContext } from './aws-context.js';

// States the emulator cannot produce (targets initial/unhealthy/draining, ECS rollout FAILED,
// circuit breaker, AccessDenied, throttling the SDK gave up on), through mocked SDK clients.

const ACCOUNT = 'arn:aws:elasticloadbalancing:us-east-1:123456789012';
const TG = [`${ACCOUNT}:targetgroup/web-a/aaa`, `${ACCOUNT}:targetgroup/web-b/bbb`];
const LB = `${ACCOUNT}:loadbalancer/app/web-alb/123`;
const LISTENER = `${ACCOUNT}:listener/app/web-alb/123/456`;
const TD = ['arn:aws:ecs:us-east-1:123456789012:task-definition/web:1', 'arn:aws:ecs:us-east-1:123456789012:task-definition/web:2'];

function svc(i: 0 | 1, over: Partial<Service> = {}): Service {
  const name = i === 0 ? 'web-a' : 'web-b';
  return {
    serviceName: name,
    serviceArn: `arn:aws:ecs:us-east-1:123456789012:service/prod/${name}`,
    status: 'ACTIVE',
    taskDefinition: TD[i],
    desiredCount: 2,
    runningCount: 2,
    loadBalancers: [{ targetGroupArn: TG[i] }],
    deployments: [{ status: 'PRIMARY', rolloutState: 'COMPLETED', taskDefinition: TD[i] }],
    ...over,
  };
}

function health(...states: [string, string?][]): TargetHealthDescription[] {
  return states.map(([State, Reason], i) => ({ Target: { Id: `10.0.0.${i + 1}`, Port: 8080 }, TargetHealth: { State: State as never, Reason: Reason as never, ...(Reason ? { Description: `${Reason} happened` } : {}) } }));
}

describe('AWS provider with mocked SDK clients', () => {
  const ecs = new ECSClient({ region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
  const elb = new ElasticLoadBalancingV2Client({ region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
  const ecsMock = mockClient(ecs);
  const elbMock = mockClient(elb);

  beforeEach(() => {
    ecsMock.reset();
    elbMock.reset();
    ecsMock.on(DescribeServicesCommand).resolves({ services: [svc(0), svc(1)] });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { family: 'web', revision: 1, containerDefinitions: [{ name: 'web', image: 'repo/web:1.0' }] } });
    elbMock.on(DescribeTargetGroupsCommand, { Names: ['web-a'] }).resolves({ TargetGroups: [{ TargetGroupArn: TG[0], TargetGroupName: 'web-a' }] });
    elbMock.on(DescribeTargetGroupsCommand, { Names: ['web-b'] }).resolves({ TargetGroups: [{ TargetGroupArn: TG[1], TargetGroupName: 'web-b' }] });
    elbMock.on(DescribeLoadBalancersCommand).resolves({ LoadBalancers: [{ LoadBalancerArn: LB, LoadBalancerName: 'web-alb', DNSName: 'web-alb-1.elb.amazonaws.com' }] });
    const listener = {
      ListenerArn: LISTENER,
      LoadBalancerArn: LB,
      Port: 443,
      Protocol: 'HTTPS' as const,
      DefaultActions: [{ Type: 'forward' as const, ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG[0], Weight: 90 }, { TargetGroupArn: TG[1], Weight: 10 }] } }],
    };
    elbMock.on(DescribeListenersCommand).resolves({ Listeners: [listener] });
    elbMock.on(DescribeRulesCommand).resolves({ Rules: [{ Priority: 'default', IsDefault: true, Actions: listener.DefaultActions }] });
    elbMock.on(DescribeTagsCommand).resolves({
      TagDescriptions: [
        { ResourceArn: TG[0], Tags: [{ Key: 'zdd:revision', Value: 'v1' }, { Key: 'zdd:task-definition', Value: TD[0] }, { Key: 'zdd:role', Value: 'stable' }] },
        { ResourceArn: TG[1], Tags: [{ Key: 'zdd:revision', Value: 'v2' }, { Key: 'zdd:task-definition', Value: TD[1] }, { Key: 'zdd:role', Value: 'candidate' }] },
      ],
    });
  });
  afterEach(() => {
    ecsMock.reset();
    elbMock.reset();
  });

  const provider = (clock = new FakeClock(Date.UTC(2026, 0, 1), true)) => new AwsProvider(stackConfig({ listener: LISTENER }), testContext({ clock }), { clients: { ecs, elb } });

  it('waits while targets are initial, passes once every one is healthy', async () => {
    elbMock
      .on(DescribeTargetHealthCommand)
      .resolvesOnce({ TargetHealthDescriptions: health(['initial', 'Elb.RegistrationInProgress']) })
      .resolvesOnce({ TargetHealthDescriptions: health(['healthy'], ['initial', 'Elb.InitialHealthChecking']) })
      .resolves({ TargetHealthDescriptions: health(['healthy'], ['healthy']) });
    const clock = new FakeClock(Date.UTC(2026, 0, 1), true);
    await provider(clock).platform.waitHealthy('v2', { timeoutMs: 60_000 });
    expect(elbMock.commandCalls(DescribeTargetHealthCommand)).toHaveLength(3);
    // Two polls at the default 5s interval (the config in these tests says 5s).
    expect(clock.now() - Date.UTC(2026, 0, 1)).toBe(10_000);
  });

  it('fails at once on an unhealthy target, naming it and its reason', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: health(['healthy'], ['unhealthy', 'Target.ResponseCodeMismatch']) });
    const err = await provider().platform.waitHealthy('v2', { timeoutMs: 60_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toBe('Target 10.0.0.2:8080 of revision v2 in target group web-b is unhealthy (Target.ResponseCodeMismatch: Target.ResponseCodeMismatch happened)');
    expect(elbMock.commandCalls(DescribeTargetHealthCommand)).toHaveLength(1);
  });

  it('does not count draining targets (old tasks leaving) and waits for the desired number of healthy ones', async () => {
    elbMock
      .on(DescribeTargetHealthCommand)
      .resolvesOnce({ TargetHealthDescriptions: health(['healthy'], ['draining', 'Target.DeregistrationInProgress']) })
      .resolves({ TargetHealthDescriptions: health(['healthy'], ['draining', 'Target.DeregistrationInProgress'], ['healthy']) });
    await provider().platform.waitHealthy('v2', { timeoutMs: 60_000 });
    expect(elbMock.commandCalls(DescribeTargetHealthCommand)).toHaveLength(2);
  });

  it('times out with what it last saw', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: health(['healthy'], ['initial', 'Elb.InitialHealthChecking']) });
    const err = await provider().platform.waitHealthy('v2', { timeoutMs: 30_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toBe('Revision v2 (ECS service web-b) was not healthy after 30s: target group web-b: 1/2 targets healthy, 1 initial (Elb.InitialHealthChecking)');
  });

  it('fails when the ECS rollout FAILED (deployment circuit breaker)', async () => {
    ecsMock.on(DescribeServicesCommand, { services: ['arn:aws:ecs:us-east-1:123456789012:service/prod/web-b'] }).resolves({
      services: [svc(1, { runningCount: 0, deployments: [{ status: 'PRIMARY', rolloutState: 'FAILED', rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.' }] })],
    });
    const p = provider();
    await p.snapshot().catch(() => undefined); // resolve slots with the default answers first
    const err = await p.platform.waitHealthy('v2', { timeoutMs: 60_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toBe('ECS rollout of revision v2 in service web-b FAILED: ECS deployment circuit breaker: tasks failed to start.');
  });

  it('fails when the circuit breaker rolled the service back to its previous task definition', async () => {
    const p = provider();
    await p.snapshot().catch(() => undefined);
    ecsMock.on(DescribeServicesCommand).resolves({ services: [svc(1, { taskDefinition: TD[0] })] });
    const err = await p.platform.waitHealthy('v2', { timeoutMs: 60_000 }).catch((e) => e);
    expect(err.message).toMatch(/runs .*web:1, not .*web:2: its deployment circuit breaker rolled revision v2 back/);
  });

  it('waits while ECS still runs two deployments or fewer tasks than desired', async () => {
    const p = provider();
    await p.snapshot().catch(() => undefined);
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [svc(1, { runningCount: 1 })] })
      .resolvesOnce({ services: [svc(1, { deployments: [{ status: 'PRIMARY' }, { status: 'ACTIVE' }] })] })
      .resolves({ services: [svc(1)] });
    elbMock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: health(['healthy'], ['healthy']) });
    elbMock.resetHistory();
    await p.platform.waitHealthy('v2', { timeoutMs: 60_000 });
    expect(elbMock.commandCalls(DescribeTargetHealthCommand)).toHaveLength(1);
  });

  it('AccessDenied on a listener write names the IAM action and says how to fix it', async () => {
    elbMock.on(ModifyListenerCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'User is not authorized to perform: elasticloadbalancing:ModifyListener' }),
    );
    const err = await provider().router.setWeights({ v1: 100, v2: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toBe(`Access denied: elasticloadbalancing:ModifyListener on ${LISTENER}`);
    expect(err.hint).toContain('Allow "elasticloadbalancing:ModifyListener"');
    expect(err.changed).toBe(true);
  });

  it('AccessDenied in preflight is a provider error before any change (exit 5)', async () => {
    ecsMock.on(DescribeServicesCommand).rejects(new ECSServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'not authorized' }));
    const err = await provider().preflight().catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toBe('Access denied: ecs:DescribeServices on cluster prod');
    expect(err.exitCode).toBe(5);
    expect(err.changed).toBe(false);
  });

  it('throttling the SDK gave up on becomes a clear message', async () => {
    elbMock.on(DescribeListenersCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400, attempts: 3 }, message: 'Rate exceeded' }),
    );
    const err = await provider().preflight().catch((e) => e);
    expect(err.message).toBe(`AWS kept throttling elasticloadbalancing:DescribeListeners on listener ${LISTENER} after 3 attempts (Throttling)`);
    expect(err.hint).toMatch(/pollInterval/);
  });

  it('missing credentials and a missing region say how to provide them', async () => {
    const noCredentials = new ECSClient({
      region: 'us-east-1',
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
      },
    });
    const err = await new AwsProvider(stackConfig({ listener: LISTENER }), testContext(), { clients: { ecs: noCredentials, elb } }).preflight().catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.message).toBe('AWS credentials are missing or invalid (CredentialsProviderError) calling ecs:DescribeServices');
    expect(err.hint).toMatch(/aws sts get-caller-identity/);
    const saved = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      const noRegion = new ECSClient({ credentials: { accessKeyId: 't', secretAccessKey: 't' } });
      const err2 = await new AwsProvider(stackConfig({ listener: LISTENER }), testContext(), { clients: { ecs: noRegion, elb } }).preflight().catch((e) => e);
      expect(err2.message).toBe('No AWS region is set for ecs:DescribeServices');
      expect(err2.hint).toMatch(/--region/);
    } finally {
      if (saved !== undefined) process.env.AWS_REGION = saved;
    }
  });

  it('issue 8 item 10: a failed tagging call after a successful write is retried, and only warns when it keeps failing', async () => {
    const throttled = Object.assign(new Error('We encountered an internal error'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    elbMock.on(AddTagsCommand).rejectsOnce(throttled).resolves({});
    const ctx = testContext();
    const p = new AwsProvider(stackConfig({ listener: LISTENER }), ctx, { clients: { ecs, elb } });
    await p.router.setWeights({ v1: 0, v2: 100 });
    expect(elbMock.commandCalls(ModifyListenerCommand)).toHaveLength(1);
    // The listener claim failed once and went through on the retry; both groups' roles are recorded.
    const tagged = elbMock.commandCalls(AddTagsCommand).map((c) => c.args[0].input.ResourceArns![0]);
    expect(tagged).toEqual([LISTENER, LISTENER, TG[0], TG[1]]);
    expect(ctx.emitted.filter((e) => e.type === 'warn')).toEqual([]);

    elbMock.on(AddTagsCommand).rejects(throttled);
    const ctx2 = testContext();
    const p2 = new AwsProvider(stackConfig({ listener: LISTENER }), ctx2, { clients: { ecs, elb } });
    await p2.router.setWeights({ v1: 0, v2: 100 });
    const warnings = ctx2.emitted.filter((e) => e.type === 'warn').map((e) => (e as { message: string }).message);
    expect(warnings[0]).toMatch(/^Could not tag listener .* \(zdd:service=web\) after 3 attempts: InternalFailure: We encountered an internal error\. The change itself was made/);
  });

  it('reads weights written by someone else (relative ALB weights) as percents', async () => {
    expect(await provider().router.getWeights()).toEqual({ v1: 90, v2: 10 });
  });
});

describe('pure helpers', () => {
  it('rewrites only the forward weights, keeping stickiness, order, other groups and other actions', () => {
    const actions = [
      { Type: 'authenticate-oidc' as const, Order: 1, AuthenticateOidcConfig: { Issuer: 'i', AuthorizationEndpoint: 'a', TokenEndpoint: 't', UserInfoEndpoint: 'u', ClientId: 'c' } },
      {
        Type: 'forward' as const,
        Order: 2,
        TargetGroupArn: TG[0],
        ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG[0], Weight: 1 }, { TargetGroupArn: 'other', Weight: 0 }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 30 } },
      },
    ];
    const next = withForwardWeights(actions, new Map([[TG[0], 80], [TG[1], 20]]));
    expect(next[0]).toBe(actions[0]);
    expect(next[1]).toEqual({
      Type: 'forward',
      Order: 2,
      ForwardConfig: {
        TargetGroups: [{ TargetGroupArn: TG[0], Weight: 80 }, { TargetGroupArn: TG[1], Weight: 20 }, { TargetGroupArn: 'other', Weight: 0 }],
        TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 30 },
      },
    });
  });

  it('with stickiness driven by zdd: on while more than one group has weight, off when one has all; without it, the block as it was', () => {
    const actions = [{ Type: 'forward' as const, ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG[0], Weight: 100 }, { TargetGroupArn: TG[1], Weight: 0 }] } }];
    const sticky = (w: number, s?: number) => withForwardWeights(actions, new Map([[TG[0], 100 - w], [TG[1], w]]), s)[0].ForwardConfig!.TargetGroupStickinessConfig;
    expect(sticky(10, 300)).toEqual({ Enabled: true, DurationSeconds: 300 });
    expect(sticky(100, 300)).toEqual({ Enabled: false, DurationSeconds: 300 });
    expect(sticky(0, 300)).toEqual({ Enabled: false, DurationSeconds: 300 });
    expect(sticky(10)).toBeUndefined();
  });

  it('reads both forward shapes and turns relative weights into percents', () => {
    expect(forwardWeights([{ Type: 'forward', TargetGroupArn: 'x' }])).toEqual(new Map([['x', 1]]));
    expect(forwardWeights([{ Type: 'fixed-response' }])).toBeNull();
    expect(toPercents(new Map([['a', 3], ['b', 1]]))).toEqual(new Map([['a', 75], ['b', 25]]));
    expect(toPercents(new Map([['a', 0], ['b', 0]]))).toEqual(new Map([['a', 0], ['b', 0]]));
  });

  it('copies a task definition with one image replaced and the read-only fields dropped', () => {
    const input = taskDefinitionWithImage(
      {
        taskDefinitionArn: TD[0],
        family: 'web',
        revision: 1,
        status: 'ACTIVE',
        compatibilities: ['FARGATE'],
        requiresAttributes: [{ name: 'x' }],
        registeredAt: new Date(),
        registeredBy: 'me',
        cpu: '256',
        containerDefinitions: [{ name: 'sidecar', image: 'envoy:1' }, { name: 'web', image: 'repo/web:1' }],
      },
      [{ key: 'team', value: 'a' }],
      'repo/web:2',
      'web',
    );
    expect(input).toEqual({
      family: 'web',
      cpu: '256',
      containerDefinitions: [{ name: 'sidecar', image: 'envoy:1' }, { name: 'web', image: 'repo/web:2' }],
      tags: [{ key: 'team', value: 'a' }],
    });
    expect(() => taskDefinitionWithImage({ family: 'web', revision: 1, containerDefinitions: [{ name: 'web' }] }, [], 'x', 'app')).toThrow(/has no container "app" \(containers: "web"\)/);
  });

  it('derives revision ids from images with the CLI\'s own function', () => {
    expect(idFromImage('123.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2')).toBe('1.4.2');
    expect(idFromImage('localhost:5000/web')).toBe('latest');
    expect(idFromImage('repo/web@sha256:0123456789abcdef0123')).toBe('0123456789ab');
  });

  it('judges target health: unused and unavailable wait, unhealthy fails', () => {
    expect(targetVerdict(health(['unused', 'Target.NotInUse']), 1, 'g', 'v')).toEqual({ wait: 'target group g: 0/1 targets healthy, 1 unused (Target.NotInUse)' });
    expect(targetVerdict([], 0, 'g', 'v')).toEqual({});
    expect('fail' in targetVerdict(health(['unhealthy', 'Target.Timeout']), 1, 'g', 'v')).toBe(true);
  });
});
