import type { Check, CheckContext, CheckFactory, Measurement } from '../../core/checks.js';
import { ZddError, errorMessage } from '../../core/errors.js';
import { createCloudWatchClient, loadCloudWatchSdk, type CloudWatchSender } from './cloudwatch-client.js';
import { renderTemplate } from './render-template.js';
import type { CloudwatchAlarmCheckConfig } from './schemas.js';

/**
 * Named CloudWatch alarms (metric or composite), the CodeDeploy way: ALARM fails, INSUFFICIENT_DATA
 * is inconclusive, OK passes. An alarm that does not exist fails: a typo must not pass a gate.
 */
export class CloudwatchAlarmCheck implements Check {
  readonly type = 'cloudwatch-alarm';
  private client?: Promise<CloudWatchSender>;
  constructor(
    readonly name: string,
    private readonly config: CloudwatchAlarmCheckConfig,
    client?: CloudWatchSender,
  ) {
    if (client) this.client = Promise.resolve(client);
  }

  async measure(ctx: CheckContext): Promise<Measurement> {
    const vars = { candidate: ctx.candidate.id, stable: ctx.stable?.id ?? null, service: ctx.service };
    const names = this.config.alarms.map((a) => renderTemplate(a, vars)).filter((a): a is string => a !== null);
    const query = `DescribeAlarms ${names.join(', ')}`;
    const threshold = 'no alarm in ALARM or INSUFFICIENT_DATA';
    if (names.length === 0) return { verdict: 'inconclusive', query, threshold, message: 'every alarm name uses {{stable}} and this deploy has no stable revision' };
    const sdk = await loadCloudWatchSdk();
    this.client ??= createCloudWatchClient(this.config.region);
    const client = await this.client;
    const states = new Map<string, { state: string; reason: string }>();
    // DescribeAlarms takes at most 100 names per call.
    for (let i = 0; i < names.length; i += 100) {
      const chunk = names.slice(i, i + 100);
      let res;
      try {
        res = await client.send(new sdk.DescribeAlarmsCommand({ AlarmNames: chunk, AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }), { abortSignal: ctx.signal });
      } catch (e) {
        throw new ZddError('cloudwatch', `CloudWatch DescribeAlarms failed: ${errorMessage(e)}`, { cause: e, hint: 'The check needs cloudwatch:DescribeAlarms, credentials and a region (config region or AWS_REGION).' });
      }
      for (const a of [...(res.MetricAlarms ?? []), ...(res.CompositeAlarms ?? [])]) {
        if (a.AlarmName) states.set(a.AlarmName, { state: a.StateValue ?? 'INSUFFICIENT_DATA', reason: a.StateReason ?? '' });
      }
    }
    const observed: Record<string, string | null> = Object.fromEntries(names.map((n) => [n, states.get(n)?.state ?? null]));
    const missing = names.filter((n) => !states.has(n));
    const inAlarm = names.filter((n) => states.get(n)?.state === 'ALARM');
    const noData = names.filter((n) => states.get(n)?.state === 'INSUFFICIENT_DATA');
    const base = { query, observed, threshold };
    if (inAlarm.length) {
      const first = states.get(inAlarm[0])!;
      return { ...base, verdict: 'fail', message: `alarm ${quoteList(inAlarm)} ${inAlarm.length === 1 ? 'is' : 'are'} in ALARM${first.reason ? `: ${first.reason}` : ''}` };
    }
    if (missing.length) {
      return { ...base, verdict: 'fail', message: `alarm ${quoteList(missing)} ${missing.length === 1 ? 'does' : 'do'} not exist in ${this.config.region ?? process.env.AWS_REGION ?? 'this region'} (check the name and region)` };
    }
    if (noData.length) return { ...base, verdict: 'inconclusive', message: `alarm ${quoteList(noData)} ${noData.length === 1 ? 'has' : 'have'} INSUFFICIENT_DATA` };
    return { ...base, verdict: 'pass', message: names.length === 1 ? `alarm "${names[0]}" is OK` : `all ${names.length} alarms are OK` };
  }
}

function quoteList(names: string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

export const cloudwatchAlarmCheck: CheckFactory<CloudwatchAlarmCheckConfig> = {
  create: (config, name) => new CloudwatchAlarmCheck(name, config),
};
