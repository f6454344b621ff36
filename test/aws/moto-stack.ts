import { CreateClusterCommand, CreateServiceCommand, DescribeServicesCommand, ECSClient, ListServicesCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { motoEnv, startMoto, type Moto } from '../helpers/moto.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** What a test deploys against: one ALB, a production listener, two slots, the state bucket. */
export interface MotoStack {
  cluster: string;
  services: [string, string];
  targetGroupArns: [string, string];
  targetGroupNames: [string, string];
  loadBalancerArn: string;
  loadBalancerName: string;
  listenerArn: string;
  testListenerArn: string;
  taskDefinitionArn: string;
  bucket: string;
  dnsName: string;
}

export interface MotoClients {
  ecs: ECSClient;
  elb: ElasticLoadBalancingV2Client;
  s3: S3Client;
  destroy(): void;
}

export function motoClients(moto: Moto): MotoClients {
  const common = { endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const ecs = new ECSClient(common);
  const elb = new ElasticLoadBalancingV2Client(common);
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  return { ecs, elb, s3, destroy: () => [ecs, elb, s3].forEach((c) => c.destroy()) };
}

/** moto has no EC2 client in our dependencies; its query API needs only a credential scope to route. */
async function defaultSubnets(moto: Moto): Promise<string[]> {
  const res = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'Action=DescribeSubnets&Version=2016-11-15',
  });
  const xml = await res.text();
  const ids = [...xml.matchAll(/<subnetId>([^<]+)<\/subnetId>/g)].map((m) => m[1]);
  if (ids.length < 2) throw new Error(`moto returned no default subnets: ${xml.slice(0, 300)}`);
  return ids.slice(0, 2);
}

/**
 * Build the two-slot stack the way a user has it before zdd's first deploy: slot 0 serves
 * `image` with `replicas` tasks and gets 100% from the listener's default action; slot 1 exists
 * with no tasks and is not in the forward action yet.
 */
export async function createMotoStack(
  moto: Moto,
  c: MotoClients,
  opts: { image?: string; replicas?: number; stickinessSeconds?: number; /** Neither slot runs anything; the forward action holds both at weight 0. */ empty?: boolean } = {},
): Promise<MotoStack> {
  const subnets = await defaultSubnets(moto);
  const lb = (await c.elb.send(new CreateLoadBalancerCommand({ Name: 'web-alb', Subnets: subnets, Type: 'application' }))).LoadBalancers![0];
  const tgs: string[] = [];
  for (const name of ['web-a', 'web-b']) {
    const tg = await c.elb.send(
      new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, VpcId: lb.VpcId, TargetType: 'ip', HealthCheckPath: '/health' }),
    );
    tgs.push(tg.TargetGroups![0].TargetGroupArn!);
  }
  const forward = {
    Type: 'forward' as const,
    ForwardConfig: {
      TargetGroups: opts.empty ? tgs.map((TargetGroupArn) => ({ TargetGroupArn, Weight: 0 })) : [{ TargetGroupArn: tgs[0], Weight: 1 }],
      ...(opts.stickinessSeconds ? { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: opts.stickinessSeconds } } : {}),
    },
  };
  const listener = (await c.elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'HTTP', Port: 80, DefaultActions: [forward] }))).Listeners![0];
  const testListener = (
    await c.elb.send(
      new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'HTTP', Port: 8443, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgs[0] }] }),
    )
  ).Listeners![0];
  await c.ecs.send(new CreateClusterCommand({ clusterName: 'prod' }));
  const td = await c.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'web',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        { name: 'web', image: opts.image ?? 'repo/web:1.4.1', essential: true, portMappings: [{ containerPort: 8080 }] },
        { name: 'log-router', image: 'amazon/aws-for-fluent-bit:2', essential: false },
      ],
      tags: [{ key: 'team', value: 'payments' }],
    }),
  );
  const taskDefinitionArn = td.taskDefinition!.taskDefinitionArn!;
  const services: [string, string] = ['web-a', 'web-b'];
  for (const [i, name] of services.entries()) {
    await c.ecs.send(
      new CreateServiceCommand({
        cluster: 'prod',
        serviceName: name,
        taskDefinition: taskDefinitionArn,
        desiredCount: i === 0 && !opts.empty ? (opts.replicas ?? 2) : 0,
        launchType: 'FARGATE',
        loadBalancers: [{ targetGroupArn: tgs[i], containerName: 'web', containerPort: 8080 }],
      }),
    );
  }
  // moto sets runningCount from the environment at create time; an update makes running = desired.
  if (!opts.empty) await c.ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: 'web-a', desiredCount: opts.replicas ?? 2 }));
  await c.s3.send(new CreateBucketCommand({ Bucket: 'zdd-state' }));
  return {
    cluster: 'prod',
    services,
    targetGroupArns: [tgs[0], tgs[1]],
    targetGroupNames: ['web-a', 'web-b'],
    loadBalancerArn: lb.LoadBalancerArn!,
    loadBalancerName: 'web-alb',
    listenerArn: listener.ListenerArn!,
    testListenerArn: testListener.ListenerArn!,
    taskDefinitionArn,
    bucket: 'zdd-state',
    dnsName: lb.DNSName!,
  };
}

/**
 * moto runs no tasks, so nothing registers in the target groups. This stands in for ECS's
 * load-balancer integration: it keeps each service's group at `runningCount` IP targets, which
 * moto reports healthy at once. In-process tests hook it onto UpdateService (deterministic);
 * tests of the built binary run it as a bounded polling loop.
 */
export interface TargetBridge {
  syncOnce(): Promise<void>;
  /** Sync right after every UpdateService the given ECS client sends. */
  attach(ecs: ECSClient): void;
  /** Poll every `intervalMs` until stop() (at most 10 minutes). */
  startLoop(intervalMs?: number): void;
  stop(): Promise<void>;
}

export function createTargetBridge(c: MotoClients, stack: MotoStack): TargetBridge {
  let stopped = false;
  let loop: Promise<void> = Promise.resolve();
  let ipSeq = 10;
  const syncOnce = async () => {
    // ListServices pages (10 a page) and DescribeServices takes at most 10: a file with several
    // services (two on one listener) must see them all.
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await c.ecs.send(new ListServicesCommand({ cluster: stack.cluster, nextToken }));
      arns.push(...(page.serviceArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const services = [];
    for (let i = 0; i < arns.length; i += 10) {
      const described = await c.ecs.send(new DescribeServicesCommand({ cluster: stack.cluster, services: arns.slice(i, i + 10) }));
      services.push(...(described.services ?? []));
    }
    for (const svc of services) {
      const tg = svc.loadBalancers?.[0]?.targetGroupArn;
      if (!tg) continue;
      const health = await c.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg }));
      const targets = (health.TargetHealthDescriptions ?? []).map((d) => d.Target!).filter((t) => t?.Id);
      const want = svc.runningCount ?? 0;
      if (targets.length < want) {
        const add = Array.from({ length: want - targets.length }, () => ({ Id: `10.0.1.${ipSeq++ % 250}`, Port: 8080 }));
        await c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: add }));
      } else if (targets.length > want) {
        await c.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: targets.slice(want).map((t) => ({ Id: t.Id, Port: t.Port })) }));
      }
    }
  };
  return {
    syncOnce,
    attach(ecs) {
      ecs.middlewareStack.add(
        (next, context) => async (args) => {
          const out = await next(args);
          if (context.commandName === 'UpdateServiceCommand') await syncOnce();
          return out;
        },
        { step: 'initialize', name: 'motoTargetBridge' },
      );
    },
    startLoop(intervalMs = 50) {
      loop = (async () => {
        const deadline = Date.now() + 10 * 60_000;
        while (!stopped && Date.now() < deadline) {
          try {
            await syncOnce();
          } catch {
            // moto may be mid-reset between tests; the next round catches up
          }
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      })();
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** What useMotoStack hands a test file: read its fields inside tests and hooks, not at collection. */
export interface LiveMotoStack {
  readonly moto: Moto;
  readonly c: MotoClients;
  readonly stack: MotoStack;
  readonly bridge: TargetBridge;
  /** motoEnv for the built binary, with the SDK's Node-version warning off. */
  readonly env: Record<string, string>;
  /** A fresh temporary directory, removed after the test (or, with `once`, after the file). */
  tempDir(prefix?: string): string;
}

/**
 * The moto fixture for tests of the built binary: one emulator for the file, and before each test
 * (or once for the file, with `once`) a reset, fresh clients, the stack of createMotoStack and a
 * target bridge polling every 250 ms. Call it inside the describe; hooks the file registers after
 * it see the stack already up.
 */
export function useMotoStack(opts: { tempPrefix: string; once?: boolean }): LiveMotoStack {
  let moto: Moto | undefined;
  let c: MotoClients | undefined;
  let stack: MotoStack | undefined;
  let bridge: TargetBridge | undefined;
  let env: Record<string, string> | undefined;
  let dirs: string[] = [];
  const up = async () => {
    await moto!.reset();
    c = motoClients(moto!);
    stack = await createMotoStack(moto!, c);
    bridge = createTargetBridge(c, stack);
    await bridge.syncOnce();
    bridge.startLoop(250);
    env = { ...motoEnv(moto!), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  };
  const down = async () => {
    await bridge?.stop();
    c?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  };
  beforeAll(async () => {
    moto = await startMoto();
    if (opts.once) await up();
  });
  afterAll(async () => {
    if (opts.once) await down();
    await moto?.stop();
  });
  if (!opts.once) {
    beforeEach(up);
    afterEach(down);
  }
  const live = <T>(what: string, v: T | undefined): T => {
    if (v === undefined) throw new Error(`the moto stack's ${what} is not up yet: use it inside a test or a hook`);
    return v;
  };
  return {
    get moto() {
      return live('emulator', moto);
    },
    get c() {
      return live('clients', c);
    },
    get stack() {
      return live('stack', stack);
    },
    get bridge() {
      return live('bridge', bridge);
    },
    get env() {
      return live('env', env);
    },
    tempDir(prefix = opts.tempPrefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
}
