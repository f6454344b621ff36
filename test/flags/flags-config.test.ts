import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';

const BASE = { service: 'web', provider: { type: 'local', command: 'node app.js' } };

function issues(flags: unknown): string[] {
  try {
    validateConfig({ ...BASE, flags });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('config: flags section', () => {
  it('accepts an Unleash service and a flagd file, with release defaults', () => {
    const c = validateConfig({
      ...BASE,
      flags: { provider: 'unleash', url: 'https://unleash.example.com', project: 'shop', environment: 'production', tokenEnv: 'UNLEASH_TOKEN', timeout: '3s', release: { steps: [5, 25, 100], pause: '10m', constraints: [{ contextName: 'region', values: ['eu'] }] } },
    });
    expect(c.flags).toMatchObject({ provider: 'unleash', timeout: 3000, release: { steps: [5, 25, 100], pause: 600_000 } });
    expect(issues({ provider: 'openfeature-file', path: 'flags.flagd.json' })).toEqual([]);
  });

  it('names every bad field, and has no place for a token', () => {
    expect(issues({ provider: 'unleash', url: 'unleash.example.com', token: '*:*.secret', tokenEnv: 'not a name', release: { steps: [150] } })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flags\.url: must be an http\(s\) URL/),
        expect.stringMatching(/^flags\.tokenEnv: must be an environment variable name/),
        expect.stringMatching(/^flags\.release\.steps\[0\]: must be 0–100, got 150/),
        expect.stringMatching(/token/),
      ]),
    );
    expect(issues({ provider: 'launchdarkly' })).toEqual([expect.stringMatching(/^flags\.provider: provider must be "unleash" or "openfeature-file"/)]);
  });

  it('strategies.hybrid needs a flag service, and then validates its flag ramps and code deploy options', () => {
    const hybrid = { deploy: 'canary', canary: { steps: [{ weight: 20, pause: '30s' }] }, flags: [{ flag: 'new-checkout', steps: [10, 100], pause: '1m' }] };
    expect(() => validateConfig({ ...BASE, strategies: { hybrid } })).toThrow(/strategies\.hybrid: ramps feature flags, so it needs a flag service/);
    const c = validateConfig({ ...BASE, flags: { provider: 'openfeature-file', path: 'f.json' }, strategies: { default: 'hybrid', hybrid } });
    expect(c.strategies?.hybrid).toMatchObject({ canary: { steps: [{ weight: 20, pause: 30_000 }] }, flags: [{ flag: 'new-checkout', pause: 60_000 }] });
    expect(() => validateConfig({ ...BASE, flags: { provider: 'openfeature-file', path: 'f.json' }, strategies: { hybrid: { flags: [] } } })).toThrow(/strategies\.hybrid\.flags: needs at least one flag ramp/);
  });
});
