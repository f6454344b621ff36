import { CloudWatchClient, PutMetricAlarmCommand, PutMetricDataCommand, SetAlarmStateCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGate } from '../../src/checks/gate-runner.js';
import { CloudwatchAlarmCheck } from '../../src/checks/metrics/cloudwatch-alarm-check.js';
import { CloudwatchCheck, loadBalancerDimension, sumMinutes, targetGroupDimension } from '../../src/checks/metrics/cloudwatch-check.js';
import { cloudwatchAlarmCheckSchema, cloudwatchCheckSchema } from '../../src/checks/metrics/schemas.js';
import type { CheckContext } from '../../src/core/checks.js';
import { FakeClock } from '../../src/core/clock.js';
import type { Role } from '../../src/core/plan.js';
import type { RevisionEndpoints, RevisionSpec } from '../../src/core/provider.js';
import { motoEnv, skipWithoutMoto, startMoto, type Moto } from '../helpers/moto.js';

const skip = skipWithoutMoto();
const MINUTE = 60_000;
const LB = 'app/web-alb/50dc6c495c0c9188';
const LB_ARN = `arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/${LB}`;

describe.skipIf(skip)('CloudWatch checks through the real SDK against moto', () => {
  let moto: Moto;
  let client: CloudWatchClient;
  // "Now" sits 25s into a minute: that minute is incomplete and must be left out.
  const now = Math.floor(Date.now() / MINUTE) * MINUTE + 25_000;
  const currentMinute = Math.floor(now / MINUTE) * MINUTE;
  const minuteAgo = (n: number) => new Date(currentMinute - n * MINUTE);

  beforeAll(async () => {
    moto = await startMoto();
    const env = motoEnv(moto);
    client = new CloudWatchClient({
      endpoint: env.AWS_ENDPOINT_URL,
      region: env.AWS_REGION,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    });
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  /** Feeds one minute of ALB metrics for a target group. */
  async function feed(tg: string, at: Date, m: { requests: number; errors?: number; latencySec?: number }, lb = LB) {
    const dims = [
      { Name: 'TargetGroup', Value: tg },
      { Name: 'LoadBalancer', Value: lb },
    ];
    const data: MetricDatum[] = [{ MetricName: 'RequestCount', Dimensions: dims, Timestamp: at, Value: m.requests, Unit: 'Count' }];
    if (m.errors !== undefined) data.push({ MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: dims, Timestamp: at, Value: m.errors, Unit: 'Count' });
    if (m.latencySec !== undefined) data.push({ MetricName: 'TargetResponseTime', Dimensions: dims, Timestamp: at, Value: m.latencySec, Unit: 'Seconds' });
    await client.send(new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: data }));
  }

  function context(candidate: RevisionSpec, stable: RevisionSpec | null, endpoints: Partial<Record<Role, RevisionEndpoints>> = {}): CheckContext {
    return {
      service: 'web',
      candidate,
      stable,
      endpoints: async (role) => endpoints[role] ?? {},
      router: { setWeights: async () => {}, getWeights: async () => ({}) },
      clock: new FakeClock(now),
      signal: AbortSignal.timeout(20_000),
      env: {},
      cwd: process.cwd(),
    };
  }

  const metricCheck = (c: Record<string, unknown>) => new CloudwatchCheck('alb-5xx', cloudwatchCheckSchema.parse({ type: 'cloudwatch', ...c }), { client, now: () => now });

  it('fails a candidate whose 5xx rate over the newest settled minute is over the limit, computing the rate itself', async () => {
    await feed('targetgroup/bad-c/1', minuteAgo(2), { requests: 200, errors: 62, latencySec: 0.05 });
    await feed('targetgroup/bad-s/1', minuteAgo(2), { requests: 800, errors: 2, latencySec: 0.04 });
    const m = await metricCheck({ loadBalancer: LB, candidateTargetGroup: 'targetgroup/bad-c/1', stableTargetGroup: 'targetgroup/bad-s/1', maxErrorRate: 5 }).measure(
      context({ id: 'v2' }, { id: 'v1' }),
    );
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe('candidate 5xx rate 31.0% > 5% (62 of 200 requests)');
    expect(m.observed).toMatchObject({ candidateRequests: 200, candidateErrors: 62, stableRequests: 800, stableErrors: 2, candidateLatencyMs: 50, stableLatencyMs: 40 });
    expect(m.query).toContain(`for targetgroup/bad-c/1 vs targetgroup/bad-s/1, ${minuteAgo(2).toISOString().slice(11, 16)}–${minuteAgo(1).toISOString().slice(11, 16)} UTC`);
  });

  it('leaves out the current minute and, by default, the newest complete one (ALB metrics arrive late); settle "0s" reads it', async () => {
    await feed('targetgroup/late-c/1', minuteAgo(2), { requests: 100, errors: 0, latencySec: 0.02 });
    // Still being published: its requests are in, most of its 5xx would come later.
    await feed('targetgroup/late-c/1', minuteAgo(1), { requests: 100, errors: 40, latencySec: 3 });
    await feed('targetgroup/late-c/1', new Date(currentMinute + 5_000), { requests: 100, errors: 100, latencySec: 3 });
    const m = await metricCheck({ loadBalancer: LB, candidateTargetGroup: 'targetgroup/late-c/1', maxErrorRate: 5 }).measure(context({ id: 'v2' }, null));
    expect(m.verdict).toBe('pass');
    expect(m.observed).toMatchObject({ candidateRequests: 100, candidateErrors: 0 });
    const unsettled = await metricCheck({ loadBalancer: LB, candidateTargetGroup: 'targetgroup/late-c/1', maxErrorRate: 5, settle: '0s' }).measure(context({ id: 'v2' }, null));
    expect(unsettled.observed).toMatchObject({ candidateRequests: 100, candidateErrors: 40 });
    expect(unsettled.query).toContain(`${minuteAgo(1).toISOString().slice(11, 16)}–${new Date(currentMinute).toISOString().slice(11, 16)} UTC`);
  });

  it('sums whole minutes over the window, counts missing 5XX datapoints as zero and weights latency by requests', async () => {
    await feed('targetgroup/win-c/1', minuteAgo(4), { requests: 10, latencySec: 0.1 });
    await feed('targetgroup/win-c/1', minuteAgo(3), { requests: 10, errors: 1, latencySec: 0.1 });
    await feed('targetgroup/win-c/1', minuteAgo(2), { requests: 30, latencySec: 0.5 });
    await feed('targetgroup/win-c/1', minuteAgo(5), { requests: 1000, errors: 1000 });
    const three = await metricCheck({ loadBalancer: LB, candidateTargetGroup: 'targetgroup/win-c/1', window: '3m', maxErrorRate: 5, maxLatency: '300ms' }).measure(context({ id: 'v2' }, null));
    expect(three.observed).toMatchObject({ candidateRequests: 50, candidateErrors: 1, candidateErrorRatePct: 2, candidateLatencyMs: 340 });
    expect(three.verdict).toBe('fail');
    expect(three.message).toBe('candidate mean latency 340ms > 300ms');
    const one = await metricCheck({ loadBalancer: LB, candidateTargetGroup: 'targetgroup/win-c/1', window: '1m', maxErrorRate: 5, minRequests: 50 }).measure(context({ id: 'v2' }, null));
    expect(one).toMatchObject({ verdict: 'inconclusive', message: 'too little traffic (30 requests, need 50) on candidate v2' });
  });

  it('takes target groups from the provider\'s typed ALB dimensions (ARNs) and finds the load balancer from the metrics', async () => {
    await feed('targetgroup/meta-c/2', minuteAgo(2), { requests: 100, errors: 1 });
    await feed('targetgroup/meta-s/2', minuteAgo(2), { requests: 100, errors: 0 });
    const arn = (name: string) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:${name}`;
    const m = await metricCheck({ maxErrorRateIncrease: 2 }).measure(
      context({ id: 'v2' }, { id: 'v1' }, {
        candidate: { metricDimensions: { alb: { targetGroupArn: arn('targetgroup/meta-c/2') } } },
        stable: { metricDimensions: { alb: { targetGroupArn: arn('targetgroup/meta-s/2') } } },
      }),
    );
    expect(m.verdict).toBe('pass');
    expect(m.message).toBe('candidate 5xx rate 1.0% (stable 0.0%) over 100 requests');
  });

  it('asks the provider which target group and load balancer each revision is in (slots alternate between deploys)', async () => {
    await feed('targetgroup/slot-b/3', minuteAgo(2), { requests: 100, errors: 9 });
    await feed('targetgroup/slot-a/3', minuteAgo(2), { requests: 100, errors: 1 });
    const arn = (name: string) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:${name}`;
    const m = await metricCheck({ maxErrorRateIncrease: 5 }).measure(
      context({ id: 'v2' }, { id: 'v1' }, {
        candidate: { metricDimensions: { alb: { targetGroupArn: arn('targetgroup/slot-b/3'), loadBalancerArn: LB_ARN } } },
        stable: { metricDimensions: { alb: { targetGroupArn: arn('targetgroup/slot-a/3'), loadBalancerArn: LB_ARN } } },
      }),
    );
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe("candidate 5xx rate 9.0% is 8 points above stable's 1.0% (max +5)");
    expect(m.query).toContain('for targetgroup/slot-b/3 vs targetgroup/slot-a/3');
  });

  it('fails at once, saying what to configure, when nothing names the target group', async () => {
    const m = await metricCheck({ maxErrorRate: 5 }).measure(context({ id: 'v2' }, null));
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe('no target group known for candidate v2: the provider reports none; set candidateTargetGroup (and stableTargetGroup) on the check');
  });

  it('is inconclusive for a target group that has published no metrics yet', async () => {
    const m = await metricCheck({ maxErrorRate: 5, candidateTargetGroup: 'targetgroup/never-served/9' }).measure(context({ id: 'v2' }, null));
    expect(m.verdict).toBe('inconclusive');
    expect(m.message).toMatch(/^no ALB metrics yet for targetgroup\/never-served\/9/);
  });

  it('builds its own client from AWS_ENDPOINT_URL and the region when none is injected', async () => {
    // This one runs on the wall clock: feed the newest settled minute as of now (the one before the
    // last complete one), and look back two minutes so that a minute boundary passing between feed
    // and measurement changes nothing.
    await feed('targetgroup/env-c/1', new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 2 * MINUTE), { requests: 40, errors: 20 });
    const saved = { ...process.env };
    Object.assign(process.env, motoEnv(moto));
    try {
      const outcome = await runGate(
        { checks: [cloudwatchCheckSchema.parse({ type: 'cloudwatch', loadBalancer: LB_ARN, candidateTargetGroup: 'targetgroup/env-c/1', window: '2m', maxErrorRate: 10 })] },
        context({ id: 'v2' }, null),
        { gateName: 'analysis', mode: 'gate', onResult() {} },
      );
      expect(outcome).toMatchObject({ verdict: 'fail', reason: 'check "cloudwatch#0" failed: candidate 5xx rate 50.0% > 10% (20 of 40 requests)' });
    } finally {
      process.env = saved;
    }
  });

  describe('cloudwatch-alarm', () => {
    beforeAll(async () => {
      for (const name of ['web-5xx', 'web-latency', 'web-cpu']) {
        await client.send(
          new PutMetricAlarmCommand({
            AlarmName: name,
            Namespace: 'AWS/ApplicationELB',
            MetricName: 'HTTPCode_Target_5XX_Count',
            Statistic: 'Sum',
            Period: 60,
            EvaluationPeriods: 1,
            Threshold: 10,
            ComparisonOperator: 'GreaterThanThreshold',
          }),
        );
      }
      await client.send(new SetAlarmStateCommand({ AlarmName: 'web-5xx', StateValue: 'OK', StateReason: 'fine' }));
      await client.send(new SetAlarmStateCommand({ AlarmName: 'web-latency', StateValue: 'ALARM', StateReason: 'Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (10.0)' }));
      await client.send(new SetAlarmStateCommand({ AlarmName: 'web-cpu', StateValue: 'INSUFFICIENT_DATA', StateReason: 'no data' }));
    });

    const alarmCheck = (alarms: string[]) => new CloudwatchAlarmCheck('alarms', cloudwatchAlarmCheckSchema.parse({ type: 'cloudwatch-alarm', alarms }), client);

    it('passes when every alarm is OK (names may use template variables)', async () => {
      const m = await alarmCheck(['{{service}}-5xx']).measure(context({ id: 'v2' }, null));
      expect(m).toMatchObject({ verdict: 'pass', message: 'alarm "web-5xx" is OK', observed: { 'web-5xx': 'OK' } });
    });

    it('fails on ALARM with the alarm\'s reason', async () => {
      const m = await alarmCheck(['web-5xx', 'web-latency', 'web-cpu']).measure(context({ id: 'v2' }, null));
      expect(m.verdict).toBe('fail');
      expect(m.message).toBe('alarm "web-latency" is in ALARM: Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (10.0)');
    });

    it('is inconclusive on INSUFFICIENT_DATA', async () => {
      const m = await alarmCheck(['web-5xx', 'web-cpu']).measure(context({ id: 'v2' }, null));
      expect(m).toMatchObject({ verdict: 'inconclusive', message: 'alarm "web-cpu" has INSUFFICIENT_DATA' });
    });

    it('fails on an alarm that does not exist, so a typo cannot pass a gate', async () => {
      const m = await alarmCheck(['web-5xx', 'web-5xxx']).measure(context({ id: 'v2' }, null));
      expect(m.verdict).toBe('fail');
      expect(m.message).toMatch(/^alarm "web-5xxx" does not exist in /);
    });
  });
});

describe('CloudWatch helpers', () => {
  it('turns ARNs into metric dimensions', () => {
    expect(targetGroupDimension('arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123abcd')).toBe('targetgroup/web-a/0123abcd');
    expect(targetGroupDimension('targetgroup/web-a/0123abcd')).toBe('targetgroup/web-a/0123abcd');
    expect(loadBalancerDimension(LB_ARN)).toBe(LB);
    expect(loadBalancerDimension(LB)).toBe(LB);
  });

  it('adds up minutes without letting errors exceed requests', () => {
    const m = sumMinutes(new Map([[1, 10], [2, 0]]), new Map([[1, 12]]), new Map([[1, 0.2], [2, 9]]));
    expect(m).toEqual({ requests: 10, errors: 10, latencyMs: 200, minutes: 2 });
  });

  it('rejects windows that are not whole minutes', () => {
    const r = cloudwatchCheckSchema.safeParse({ type: 'cloudwatch', maxErrorRate: 5, window: '90s' });
    expect(r.error?.issues[0]).toMatchObject({ path: ['window'], message: 'must be whole minutes (CloudWatch ALB metrics are per minute), e.g. "1m" or "3m", got 1m30s' });
  });

  it('rejects a settle time that is not whole minutes', () => {
    const r = cloudwatchCheckSchema.safeParse({ type: 'cloudwatch', maxErrorRate: 5, settle: '30s' });
    expect(r.error?.issues[0]).toMatchObject({ path: ['settle'], message: 'must be whole minutes (CloudWatch ALB metrics are per minute), e.g. "0s", "1m" or "2m", got 30s' });
  });
});
