import { describe, expect, it } from 'vitest';
import { strategyIssues } from '../../src/config/strategy-rules.js';
import { validateConfig } from '../../src/config/load-config.js';
import { PROVIDER_MANIFEST, ROUTER_MANIFEST } from '../../src/providers/provider-manifest.js';
import { canary as canaryStrategy } from '../../strategies/canary.js';
import { rolling as rollingStrategy } from '../../strategies/rolling.js';

const CAN_ALL = { weightedTraffic: true, instantSwitch: true, testRoute: true, batches: true };

describe('platform and router chosen separately', () => {
  it('configs written before the split load unchanged, with each platform\'s default router', () => {
    const local = validateConfig({ service: 'web', provider: { type: 'local', command: 'node app.js', port: 8080 } } as never);
    expect(local.provider).toEqual({ type: 'local', command: 'node app.js', port: 8080 });
    expect(PROVIDER_MANIFEST.local.routers[0]).toBe('local');
    expect(PROVIDER_MANIFEST.aws.routers[0]).toBe('alb');
    expect(PROVIDER_MANIFEST.hosts.routers).toEqual(['haproxy']);
    expect(PROVIDER_MANIFEST.kubernetes.routers).toEqual(['service', 'istio', 'gateway-api']);
  });

  it('every router a platform lists is in the router registry', () => {
    for (const [name, p] of Object.entries(PROVIDER_MANIFEST)) for (const r of 'routers' in p ? p.routers : []) expect(ROUTER_MANIFEST[r], `${name} lists ${r}`).toBeDefined();
  });

  it('a pair that cannot work is refused at validation, naming the routers the platform can use', () => {
    expect(() => validateConfig({ service: 'web', provider: { type: 'aws', cluster: 'c', router: { type: 'haproxy', runtimeApi: '/s', backend: 'b' } } } as never)).toThrow(
      /provider\.router\.type: router "haproxy" cannot stand in front of platform "aws"; platform "aws" can use "alb"/,
    );
    expect(() => validateConfig({ service: 'web', provider: { type: 'local', command: 'x', router: { type: 'istio' } } } as never)).toThrow(
      /router "istio" cannot stand in front of platform "local"; platform "local" can use "local", "haproxy"/,
    );
  });

  it('a missing capability names the router that lacks it and the ones that have it', () => {
    const issues = strategyIssues(canaryStrategy, { steps: [{ weight: 10 }, { weight: 100 }] }, { replicas: 2, capabilities: { ...CAN_ALL, weightedTraffic: false }, pair: { platform: 'kubernetes', router: 'service' } });
    expect(issues.map((i) => i.message)).toEqual(['canary needs weights: router `service` has none; choose istio or gateway-api (provider.router.type)']);
  });

  it('a capability the platform lacks names the platform', () => {
    const issues = strategyIssues(rollingStrategy, {}, { replicas: 2, capabilities: { ...CAN_ALL, batches: false }, pair: { platform: 'hosts', router: 'haproxy' } });
    expect(issues.map((i) => i.message)).toContain('rolling needs batches (instance by instance): platform `hosts` has none; pick another strategy (--strategy) or platform');
  });
});
