import { CloudWatchClient, PutMetricDataCommand, SetAlarmStateCommand, PutMetricAlarmCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { DescribeListenersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBalancerDimension, targetGroupDimension } from '../../src/checks/metrics/cloudwatch-check.js';
import { parseNdjson, runZdd, startZdd, ZDD_BIN } from '../cli/cli-harness.js';
import { useMotoStack } from '../aws/moto-stack.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { STACK_PROVIDER } from '../aws/aws-context.js';

/**
 * Issue 5 on the AWS provider: the built binary deploys a canary on moto (ECS + ALB) with a
 * CloudWatch analysis gate; ALB metrics for the two target groups are fed with PutMetricData and
 * alarms driven with SetAlarmState. A bad candidate is rolled back with a message naming the check
 * and the value; a healthy one is promoted.
 */

const MINUTE = 60_000;
/** The CloudWatch check's look-back below (`window: '2m'`): each measurement sums this many whole minutes. */
const WINDOW_MINUTES = 2;
/** The check's default settle time: the newest complete minute is left out. */
const SETTLE_MINUTES = 1;
/** The longest a deploy may run (runZdd's timeout): no measurement comes later than this after the feed. */
const DEPLOY_TIMEOUT = 90_000;

interface MinuteOfTraffic {
  requests: number;
  errors: number;
  latencySec: number;
}

describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('metric analysis on the AWS provider (built binary, moto)', () => {
  const aws = useMotoStack({ tempPrefix: 'zdd-aws-analysis-' });
  let cw: CloudWatchClient;

  beforeEach(() => {
    cw = new CloudWatchClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  });
  afterEach(() => {
    cw.destroy();
  });

  function project(checks: string): string {
    const dir = aws.tempDir();
    writeFileSync(
      join(dir, 'deploy.config.ts'),
      `import { defineConfig } from 'zdd';

export default defineConfig({
  service: 'web',
  provider: ${JSON.stringify(STACK_PROVIDER)},
  state: { type: 's3', bucket: 'zdd-state', prefix: 'zdd/' },
  replicas: 2,
  drain: '10s',
  health: { timeout: '2h' },
  strategies: { canary: { steps: [{ weight: 10, pause: '5m' }, { weight: 100 }] } },
  gates: { analysis: { checks: [${checks}] } },
});
`,
    );
    return dir;
  }

  /**
   * Steady ALB traffic on both target groups: the same per-minute values in every whole minute a
   * measurement of the deploy can read. The check cuts its window from the wall clock at each
   * measurement — the WINDOW_MINUTES whole minutes before the newest complete one, which the
   * check leaves out by default (settle 1m: ALB metrics arrive late) — and a measurement
   * can come at any second from now until the deploy's timeout, across one or two minute
   * boundaries. Feeding only "the last complete minute" left it to chance whether a window held
   * that minute; with every such minute fed alike each measurement sums exactly WINDOW_MINUTES
   * minutes, whichever second the test starts. Minutes after the current one are never read
   * before they are complete, so stamping them now is harmless.
   */
  async function feedSteady(perMinute: { candidate: MinuteOfTraffic; stable: MinuteOfTraffic }) {
    const now = Date.now();
    const first = Math.floor(now / MINUTE) * MINUTE - (WINDOW_MINUTES + SETTLE_MINUTES) * MINUTE;
    const last = Math.floor((now + DEPLOY_TIMEOUT) / MINUTE) * MINUTE;
    const data: MetricDatum[] = [];
    for (const [tgArn, m] of [[aws.stack.targetGroupArns[1], perMinute.candidate], [aws.stack.targetGroupArns[0], perMinute.stable]] as const) {
      const dims = [
        { Name: 'TargetGroup', Value: targetGroupDimension(tgArn)! },
        { Name: 'LoadBalancer', Value: loadBalancerDimension(aws.stack.loadBalancerArn)! },
      ];
      for (let at = first; at <= last; at += MINUTE) {
        const Timestamp = new Date(at);
        data.push(
          { MetricName: 'RequestCount', Dimensions: dims, Timestamp, Value: m.requests },
          { MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: dims, Timestamp, Value: m.errors },
          { MetricName: 'TargetResponseTime', Dimensions: dims, Timestamp, Value: m.latencySec },
        );
      }
    }
    await cw.send(new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: data }));
  }

  async function weights(): Promise<Record<string, number>> {
    const l = (await aws.c.elb.send(new DescribeListenersCommand({ ListenerArns: [aws.stack.listenerArn] }))).Listeners![0];
    const out: Record<string, number> = {};
    for (const g of l.DefaultActions![0].ForwardConfig!.TargetGroups!) out[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return out;
  }

  // The candidate goes to the idle slot (web-b) while web-a serves stable.
  const cloudwatchCheck = () =>
    `{ type: 'cloudwatch', name: 'alb-5xx', interval: '30s', window: '${WINDOW_MINUTES}m', loadBalancer: ${JSON.stringify(aws.stack.loadBalancerArn)},
       candidateTargetGroup: ${JSON.stringify(aws.stack.targetGroupArns[1])}, stableTargetGroup: ${JSON.stringify(aws.stack.targetGroupArns[0])},
       minRequests: 50, maxErrorRate: 5, maxErrorRateIncrease: 2, maxLatencyRatio: 2 }`;

  it('rolls back a candidate whose ALB 5xx rate is over the limit, naming the check and the value', async () => {
    // Two minutes in the window: 200 requests with 62 errors on the candidate, 1800 with 2 on stable.
    await feedSteady({ candidate: { requests: 100, errors: 31, latencySec: 0.05 }, stable: { requests: 900, errors: 1, latencySec: 0.04 } });
    const dir = project(cloudwatchCheck());
    const r = await runZdd(['--config', join(dir, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--json'], dir, aws.env, DEPLOY_TIMEOUT, { fastClock: true });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const ev = parseNdjson(r.stdout.split('\n').filter((l) => l.startsWith('{')).join('\n'));
    const check = ev.find((e) => e.type === 'check') as { result: { verdict: string; observed: Record<string, number>; query: string } };
    expect(check.result.verdict).toBe('fail');
    expect(check.result.observed).toMatchObject({ candidateRequests: 200, candidateErrors: 62, stableRequests: 1800, stableErrors: 2 });
    expect(String(ev.find((e) => e.type === 'rollback.start')?.reason)).toContain('check "alb-5xx" failed: candidate 5xx rate 31.0% > 5% (62 of 200 requests)');
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
  }, 120_000);

  it('promotes a healthy candidate, and an alarm in ALARM rolls back', async () => {
    // Two minutes in the window: 200 requests with 2 errors (1%) on the candidate, 1800 with 4 on stable.
    await feedSteady({ candidate: { requests: 100, errors: 1, latencySec: 0.05 }, stable: { requests: 900, errors: 2, latencySec: 0.04 } });
    const ok = project(cloudwatchCheck());
    const r = await runZdd(['--config', join(ok, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--json'], ok, aws.env, DEPLOY_TIMEOUT, { fastClock: true });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Every measurement of the bake read the same two whole minutes' worth of traffic.
    const checks = parseNdjson(r.stdout.split('\n').filter((l) => l.startsWith('{')).join('\n')).filter((e) => e.type === 'check') as { result: { verdict: string; observed: Record<string, number> } }[];
    expect(checks.length).toBeGreaterThan(0);
    for (const c of checks) {
      expect(c.result.verdict).toBe('pass');
      expect(c.result.observed).toMatchObject({ candidateRequests: 200, candidateErrors: 2, stableRequests: 1800, stableErrors: 4 });
    }
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });

    await cw.send(new PutMetricAlarmCommand({ AlarmName: 'web-5xx', Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 10, ComparisonOperator: 'GreaterThanThreshold' }));
    await cw.send(new SetAlarmStateCommand({ AlarmName: 'web-5xx', StateValue: 'ALARM', StateReason: 'Threshold Crossed: 1 datapoint [57.0] was greater than the threshold (10.0)' }));
    const alarmed = project(`{ type: 'cloudwatch-alarm', alarms: ['{{service}}-5xx'] }`);
    const r2 = await runZdd(['--config', join(alarmed, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.3', '--json'], alarmed, aws.env, 90_000, { fastClock: true });
    expect(r2.code, `${r2.stdout}\n${r2.stderr}`).toBe(1);
    const reason = String(parseNdjson(r2.stdout.split('\n').filter((l) => l.startsWith('{')).join('\n')).find((e) => e.type === 'rollback.start')?.reason);
    expect(reason).toContain('check "cloudwatch-alarm#0" failed: alarm "web-5xx" is in ALARM: Threshold Crossed');
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
  }, 180_000);

  it('issue 12 item 3: a quiet service (no ALB metrics) is not rolled back: the deploy pauses, says why, and zdd promote finishes it', async () => {
    const dir = project(`{ type: 'cloudwatch', name: 'alb-5xx', interval: '1m', maxErrorRate: 5, minRequests: 50 }`);
    const deploy = startZdd(['--config', join(dir, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--json'], dir, aws.env, { fastClock: true });
    await deploy.waitFor(/"type":"paused"/, 90_000);
    const paused = parseNdjson(deploy.stdout().split('\n').filter((l) => l.startsWith('{')).join('\n')).find((e) => e.type === 'paused') as { message: string };
    expect(paused.message).toMatch(/^Analysis "analysis" was inconclusive: check "alb-5xx" was inconclusive: too little traffic \(0 requests, need 50\) on candidate 1\.4\.2 .*onInconclusive: pause \(the default\), so the deploy waits/);
    expect(await weights()).toEqual({ 'web-a': 90, 'web-b': 10 });
    const promote = await runZdd(['--config', join(dir, 'deploy.config.ts'), 'promote'], dir, aws.env, 60_000, { fastClock: true });
    expect(promote.code, promote.stderr).toBe(0);
    const done = await deploy.done;
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
  }, 180_000);
});
