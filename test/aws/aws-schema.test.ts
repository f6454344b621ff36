import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';

const base = {
  type: 'aws',
  cluster: 'prod',
  slots: [
    { service: 'web-a', targetGroup: 'web-a' },
    { service: 'web-b', targetGroup: 'web-b' },
  ],
  listener: { loadBalancer: 'web-alb', port: 443 },
};

function issues(provider: Record<string, unknown>): string[] {
  try {
    validateConfig({ service: 'web', provider });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('aws provider config', () => {
  it('accepts the minimal config and every option', () => {
    expect(issues(base)).toEqual([]);
    expect(
      issues({
        ...base,
        region: 'eu-west-1',
        profile: 'prod',
        listener: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web-alb/1/2',
        rule: { priority: 10 },
        container: 'web',
        testRoute: { header: 'X-Canary', value: 'always', priority: 2 },
        testListener: { port: 8443 },
        url: 'https://web.example.com',
        pollInterval: '10s',
      }),
    ).toEqual([]);
    expect(issues({ ...base, testRoute: false })).toEqual([]);
  });

  it('names the field and the fix for mistakes', () => {
    expect(issues({ ...base, slots: [base.slots[0]] })).toEqual([
      'provider.slots: needs exactly two slots, e.g. [{ service: "web-a", targetGroup: "web-a" }, { service: "web-b", targetGroup: "web-b" }]',
    ]);
    expect(issues({ ...base, slots: [base.slots[0], base.slots[0]] })).toEqual(['provider.slots: the two slots need different services and different target groups']);
    expect(issues({ ...base, listener: 'web-alb' })).toEqual(['provider.listener: must be a listener ARN (arn:aws:elasticloadbalancing:…) or { loadBalancer: "name", port: 443 }, got "web-alb"']);
    expect(issues({ ...base, testRoute: { header: 'Host' } })).toEqual(['provider.testRoute.header: cannot be "Host" (use a custom header such as X-Canary)']);
    expect(issues({ ...base, rule: { priority: 0 } })).toEqual(['provider.rule.priority: must be 1–50000, got 0']);
    expect(issues({ ...base, pollInterval: 'often' })).toEqual(['provider.pollInterval: must be a duration like "30s", "5m" or "1h30m", got "often"']);
    expect(issues({ ...base, cluster: undefined })[0]).toMatch(/^provider.cluster: /);
  });
});
