import { describe, expect, it } from 'vitest';
import { isFailureAnswer, parseRuntimeApiAddress } from '../../src/providers/haproxy/runtime-api.js';
import { MAX_SERVER_WEIGHT, percentsOf, spreadWeights } from '../../src/providers/haproxy/weight-spread.js';

describe('spreading a revision\'s percent over its HAProxy servers', () => {
  const servers = (rev: string, n: number) => Array.from({ length: n }, (_, i) => `${rev}-${i}`);

  it('gives every revision exactly its percent, every server 0–256, a revision\'s servers within one unit', () => {
    for (const [a, b] of [[1, 1], [1, 3], [2, 3], [3, 7], [10, 1], [10, 10]]) {
      for (let p = 0; p <= 100; p++) {
        const byRev = { s: servers('s', a), c: servers('c', b) };
        const w = spreadWeights({ s: 100 - p, c: p }, byRev);
        const sum = (rev: 's' | 'c') => byRev[rev].reduce((n, s) => n + w.get(s)!, 0);
        expect(percentsOf({ s: sum('s'), c: sum('c') })).toEqual({ s: 100 - p, c: p });
        for (const rev of ['s', 'c'] as const) {
          const ws = byRev[rev].map((s) => w.get(s)!);
          expect(Math.max(...ws)).toBeLessThanOrEqual(MAX_SERVER_WEIGHT);
          expect(Math.min(...ws)).toBeGreaterThanOrEqual(0);
          expect(Math.max(...ws) - Math.min(...ws)).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  it('puts revisions not listed at 0, and refuses a percent for a revision without servers', () => {
    const w = spreadWeights({ a: 100 }, { a: ['a1'], b: ['b1', 'b2'] });
    expect([...w]).toEqual([['a1', 200], ['b1', 0], ['b2', 0]]);
    expect(() => spreadWeights({ a: 50, b: 50 }, { a: ['a1'] })).toThrow(/revision "b" has 50% but no server/);
  });
});

describe('Runtime API addresses and answers', () => {
  it('reads a socket path or host:port', () => {
    expect(parseRuntimeApiAddress('/run/haproxy/admin.sock')).toEqual({ path: '/run/haproxy/admin.sock' });
    expect(parseRuntimeApiAddress('10.0.0.2:9999')).toEqual({ host: '10.0.0.2', port: 9999 });
    expect(parseRuntimeApiAddress('[::1]:9999')).toEqual({ host: '::1', port: 9999 });
    expect(parseRuntimeApiAddress('./admin.sock')).toEqual({ path: './admin.sock' });
  });
  it('tells a refusal from a success note', () => {
    expect(isFailureAnswer('')).toBe(false);
    expect(isFailureAnswer("no need to change the addr, port changed from '1' to '4567' by 'stats socket command'")).toBe(false);
    expect(isFailureAnswer('No such server.')).toBe(true);
    expect(isFailureAnswer("Can't find backend.")).toBe(true);
    expect(isFailureAnswer('Permission denied')).toBe(true);
  });
});
