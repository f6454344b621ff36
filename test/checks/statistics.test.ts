import { describe, expect, it } from 'vitest';
import { erfc, mannWhitneyU, median, normalCdf, percentile } from '../../src/checks/metrics/statistics.js';

describe('mannWhitneyU', () => {
  // Wikipedia's tortoise-and-hare example: finishing order T H H H H H T T T T T H.
  // By hand: ranks of x sum to 1+7+8+9+10+11 = 46, U1 = 46 − 6·7/2 = 25, U2 = 36 − 25 = 11,
  // mean 18, σ = √(6·6·13/12) = √39, z = 7/√39 = 1.1209, two-sided p = erfc(z/√2) = 0.2623.
  const x = [1, 7, 8, 9, 10, 11];
  const y = [2, 3, 4, 5, 6, 12];

  it('computes U, z and p for a small example worked by hand', () => {
    const r = mannWhitneyU(x, y, { continuity: false });
    expect(r.u1).toBe(25);
    expect(r.u2).toBe(11);
    expect(r.u).toBe(11);
    expect(r.z).toBeCloseTo(7 / Math.sqrt(39), 12);
    expect(r.pValue).toBeCloseTo(0.2623316754083572, 12); // scipy 1.17 mannwhitneyu(method='asymptotic', use_continuity=False)
  });

  it('applies the continuity correction by default (as scipy does)', () => {
    const r = mannWhitneyU(x, y);
    expect(r.z).toBeCloseTo(6.5 / Math.sqrt(39), 12);
    expect(r.pValue).toBeCloseTo(0.2979530616081678, 12);
  });

  it('corrects the variance for ties', () => {
    // Ties: 2.2 ×3, 3.3 ×3, 4.4 ×3 → Σ(t³ − t) = 3·24 = 72 over n = 13.
    const a = [1.1, 2.2, 2.2, 3.3, 4.4, 4.4, 5.5];
    const b = [2.2, 3.3, 3.3, 6.6, 7.7, 4.4];
    const r = mannWhitneyU(a, b, { continuity: false });
    expect(r.u1).toBe(14);
    const sd = Math.sqrt(((7 * 6) / 12) * (14 - 72 / (13 * 12)));
    expect(r.z).toBeCloseTo((14 - 21) / sd, 12);
    expect(r.pValue).toBeCloseTo(0.3091997637495777, 12);
    expect(mannWhitneyU(a, b).pValue).toBeCloseTo(0.34503337552980584, 12);
  });

  it('finds a clear latency regression significant and is symmetric in its p-value', () => {
    const fast = [12, 15, 11, 19, 22, 13, 17, 14, 16, 18, 21, 25];
    const slow = [30, 28, 35, 26, 33, 29, 31, 40, 27, 24];
    const r = mannWhitneyU(fast, slow);
    expect(r.u1).toBe(1);
    expect(r.pValue).toBeCloseTo(0.0001146108970368846, 12);
    const flipped = mannWhitneyU(slow, fast);
    expect(flipped.u1).toBe(119);
    expect(flipped.z).toBeCloseTo(-r.z, 12);
    expect(flipped.pValue).toBeCloseTo(r.pValue, 14);
  });

  it('gives p = 1 when every value is the same', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5])).toMatchObject({ z: 0, pValue: 1 });
  });

  it('refuses an empty sample', () => {
    expect(() => mannWhitneyU([], [1])).toThrow(RangeError);
  });
});

describe('erfc and friends', () => {
  it('matches reference values across the range', () => {
    const ref: [number, number][] = [
      [0.1, 0.8875370839817152],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028516],
      [1.5, 0.03389485352468927],
      [2, 0.004677734981047266],
      [2.5, 0.00040695201744495886],
      [3, 2.2090496998585445e-5],
      [5, 1.5374597944280347e-12],
      [8, 1.1224297172982928e-29],
    ];
    for (const [v, want] of ref) expect(Math.abs(erfc(v) - want) / want).toBeLessThan(1e-12);
    expect(erfc(-1)).toBeCloseTo(2 - 0.15729920705028516, 14);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 12);
  });

  it('computes percentiles by linear interpolation (numpy default)', () => {
    expect(percentile([1, 2, 3, 4, 10], 95)).toBeCloseTo(8.8, 12);
    expect(median([5, 1, 3])).toBe(3);
    expect(percentile([], 50)).toBeNaN();
  });
});
