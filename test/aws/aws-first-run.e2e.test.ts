import { CloudWatchClient, PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { DescribeListenersCommand, DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBalancerDimension, targetGroupDimension } from '../../src/checks/metrics/cloudwatch-check.js';
import { parseNdjson, runZdd, ZDD_BIN, type RunResult } from '../cli/cli-harness.js';
import { motoEnv, skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { createDocumentedSetup, type DocumentedSetup } from './documented-setup.js';
import { createTargetBridge, motoClients, type MotoClients, type MotoStack, type TargetBridge } from './moto-stack.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };
const MINUTE = 60_000;
/** The longest the canary deploy may run (its runZdd timeout): no measurement comes later than this after the feed. */
const DEPLOY_TIMEOUT = 120_000;
const REQUESTS_PER_MINUTE = 600;

/**
 * Issue 12 item 7, the first run: `zdd init --provider aws` and the setup docs/aws.md gives,
 * created on moto with the SDK (test/aws/documented-setup.ts mirrors the docs' commands), then
 * validate → plan → a canary deploy → status and rollback from another directory, through the
 * built binary. The config is the template as written; the one line set is `url`, because moto
 * emulates the AWS APIs but not a load balancer's data plane: a local HTTP server stands in for
 * the ALB that the smoke check reaches. ALB metrics for the analysis are fed with PutMetricData.
 */
describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('first run on AWS: zdd init + the documented setup (built binary, moto)', { timeout: 240_000 }, () => {
  const moto = useMoto();
  let c: MotoClients;
  let cw: CloudWatchClient;
  let setup: DocumentedSetup;
  let bridge: TargetBridge;
  let alb: Server;
  let albUrl: string;
  const seen: { path: string; canary?: string }[] = [];
  const dirs: string[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    c = motoClients(moto);
    cw = new CloudWatchClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    setup = await createDocumentedSetup(moto, c);
    bridge = createTargetBridge(c, { cluster: 'prod' } as MotoStack);
    await bridge.syncOnce();
    bridge.startLoop(100);
    alb = createServer((req, res) => {
      seen.push({ path: req.url ?? '', canary: req.headers['x-canary'] as string | undefined });
      res.writeHead(req.url === '/health' ? 200 : 404).end('ok\n');
    });
    await new Promise<void>((r) => alb.listen(0, '127.0.0.1', () => r()));
    albUrl = `http://127.0.0.1:${(alb.address() as AddressInfo).port}`;
    env = { ...motoEnv(moto), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  });
  afterAll(async () => {
    await bridge?.stop();
    c?.destroy();
    cw?.destroy();
    if (alb) await new Promise((r) => alb.close(r));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A directory with `zdd init --provider aws` and the one line moto needs (see above). */
  async function initProject(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-first-run-'));
    dirs.push(dir);
    const init = await runZdd(['init', '--provider', 'aws'], dir, env, 60_000, FAST);
    expect(init.code, init.stderr).toBe(0);
    const file = join(dir, 'deploy.config.ts');
    const template = readFileSync(file, 'utf8');
    expect(template).toContain("// url: 'https://web.example.com',");
    writeFileSync(file, template.replace("// url: 'https://web.example.com',", `url: '${albUrl}',`));
    return dir;
  }
  const out = (r: RunResult) => `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  /**
   * Steady ALB traffic for a target group: 600 requests and no 5xx in every whole minute a
   * measurement of the deploy can read. The template's check looks back one whole minute (the
   * one before the current minute on the wall clock) at each measurement, and measurements come
   * at any second from now until the deploy's timeout, across minute boundaries: so every minute
   * from the last complete one to the one the timeout falls in is fed alike, and each
   * measurement reads exactly one fed minute whichever second the test starts. Minutes after the
   * current one are never read before they are complete, so stamping them now is harmless.
   */
  async function feedHealthyMetrics(tgArn: string) {
    const now = Date.now();
    const dims = [
      { Name: 'TargetGroup', Value: targetGroupDimension(tgArn)! },
      { Name: 'LoadBalancer', Value: loadBalancerDimension(setup.loadBalancerArn)! },
    ];
    const data: MetricDatum[] = [];
    // From the minute the check's default window (1m, settled 1m) reads now, to the deploy's timeout.
    for (let at = Math.floor(now / MINUTE) * MINUTE - 2 * MINUTE; at <= Math.floor((now + DEPLOY_TIMEOUT) / MINUTE) * MINUTE; at += MINUTE) {
      data.push(
        { MetricName: 'RequestCount', Dimensions: dims, Timestamp: new Date(at), Value: REQUESTS_PER_MINUTE },
        { MetricName: 'TargetResponseTime', Dimensions: dims, Timestamp: new Date(at), Value: 0.04 },
      );
    }
    await cw.send(new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: data }));
  }
  async function weights(): Promise<Record<string, number>> {
    const l = (await c.elb.send(new DescribeListenersCommand({ ListenerArns: [setup.listenerArn] }))).Listeners![0];
    return Object.fromEntries(l.DefaultActions![0].ForwardConfig!.TargetGroups!.map((g) => [g.TargetGroupArn!.split('/')[1], g.Weight!]));
  }

  it('validate, plan, canary deploy, then status and rollback from another directory, editing nothing but the url', async () => {
    const ci = await initProject();
    const validate = await runZdd(['validate'], ci, env, 60_000, FAST);
    expect(validate.code, out(validate)).toBe(0);

    const plan = await runZdd(['plan', '--image', 'repo/web:1.4.2'], ci, env, 60_000, FAST);
    expect(plan.code, out(plan)).toBe(0);
    expect(plan.stdout).toMatch(/Plan for web: 1\.4\.1 → 1\.4\.2 with canary/);

    await feedHealthyMetrics(setup.targetGroupArns[1]);
    const deploy = await runZdd(['deploy', '--image', 'repo/web:1.4.2', '--json'], ci, env, DEPLOY_TIMEOUT, FAST);
    expect(deploy.code, out(deploy)).toBe(0);
    const events = parseNdjson(deploy.stdout);
    expect(events.filter((e) => e.type === 'traffic').map((e) => (e as { byRevision: Record<string, number> }).byRevision['1.4.2'])).toEqual([10, 25, 50, 75, 100]);
    // The smoke check went through the header route; the analysis judged real (fed) ALB metrics.
    expect(seen).toContainEqual({ path: '/health', canary: 'always' });
    // Every measurement read exactly one fed minute.
    const measured = events.filter((e) => e.type === 'check' && (e as { result: { type: string } }).result.type === 'cloudwatch') as { result: { verdict: string; observed: Record<string, unknown> } }[];
    expect(measured.length).toBeGreaterThan(0);
    for (const m of measured) expect(m.result).toMatchObject({ verdict: 'pass', observed: { candidateRequests: REQUESTS_PER_MINUTE, candidateErrors: 0 } });
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect((await c.elb.send(new DescribeRulesCommand({ ListenerArn: setup.listenerArn }))).Rules!.map((r) => r.Priority)).toEqual(['default']);

    const laptop = await initProject();
    const status = await runZdd(['status'], laptop, env, 60_000, FAST);
    expect(status.code, out(status)).toBe(0);
    expect(status.stdout).toMatch(/traffic \(live\): 1\.4\.2 100%/);
    const rollback = await runZdd(['rollback', '--yes'], laptop, env, 120_000, FAST);
    expect(rollback.code, out(rollback)).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    const after = await runZdd(['status'], ci, env, 60_000, FAST);
    expect(after.code, out(after)).toBe(0);
    expect(after.stdout).toMatch(/traffic \(live\): 1\.4\.1 100%/);
  });
});
