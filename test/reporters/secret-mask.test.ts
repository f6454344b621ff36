import { describe, expect, it } from 'vitest';
import { configSecrets, SecretMask } from '../../src/core/secret-mask.js';

describe('SecretMask', () => {
  it('masks every occurrence, longest secret first, in text and deep in JSON-like values', () => {
    const m = new SecretMask();
    m.add('abcd1234');
    m.add('Bearer abcd1234');
    expect(m.mask('h: Bearer abcd1234; again abcd1234')).toBe('h: ***; again ***');
    expect(m.maskDeep({ a: ['x abcd1234'], n: 3, b: { c: 'abcd1234' } })).toEqual({ a: ['x ***'], n: 3, b: { c: '***' } });
  });

  it('ignores values too short to be secrets (they would mask ordinary words)', () => {
    const m = new SecretMask();
    m.add('ab');
    m.add('');
    expect(m.size).toBe(0);
  });
});

describe('configSecrets: what a config carries that must never be shown', () => {
  const env = { PROM_TOKEN: 'tok-0123456789', HOME: '/home/ana', REGION_NAME: 'eu-west-1-x', PLAIN_VALUE: 'some-build-id-42' };

  it('header values (the credential alone too), but not plain headers like Accept', () => {
    const m = configSecrets({ gates: { a: { checks: [{ headers: { Authorization: 'Bearer sk-live-998877', Accept: 'application/json' } }] } } }, {});
    expect(m.mask('Bearer sk-live-998877 / sk-live-998877 / application/json')).toBe('*** / *** / application/json');
  });

  it('env values with a secret name, from the environment, or key-like; not plain words', () => {
    const m = configSecrets({ hooks: { preShift: { run: 'x', env: { DB_PASSWORD: 'hunter22', STAGE: 'production', ID: 'some-build-id-42', K: 'a1b2c3d4e5f6g7h8i9' } } } }, env);
    expect(m.mask('hunter22 production some-build-id-42 a1b2c3d4e5f6g7h8i9')).toBe('*** production *** ***');
  });

  it('environment values built into a command or URL, every secret-named variable, and URL passwords', () => {
    const m = configSecrets({ gates: { g: { checks: [{ run: 'curl -H "X: some-build-id-42" /home/ana/x', address: 'https://bob:pa55word@prom.example/' }] } } }, env);
    expect(m.mask('some-build-id-42 /home/ana tok-0123456789 pa55word eu-west-1-x')).toBe('*** /home/ana *** *** eu-west-1-x');
  });
});
