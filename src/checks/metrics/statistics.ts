/**
 * Statistics for comparing a candidate with stable. Pure functions, no dependencies.
 */

export interface MannWhitneyResult {
  /** U of the first sample (x): how often an x value exceeds a y value (ties count half). */
  u1: number;
  /** U of the second sample: n1·n2 − u1. */
  u2: number;
  /** min(u1, u2), the statistic tables list. */
  u: number;
  /** Normal approximation of u1, with the tie correction (and the continuity correction unless disabled). */
  z: number;
  /** Two-sided p-value from the normal approximation. */
  pValue: number;
  n1: number;
  n2: number;
}

/**
 * Mann-Whitney U test (Wilcoxon rank-sum) of x against y, two-sided, normal approximation with
 * tie correction — the comparison Kayenta makes between a canary and its baseline. Suited to
 * samples of about 8 or more on each side; below that the p-value is only approximate.
 */
export function mannWhitneyU(x: readonly number[], y: readonly number[], opts: { continuity?: boolean } = {}): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('mannWhitneyU needs at least one value in each sample');
  const all = [...x.map((v) => ({ v, fromX: true })), ...y.map((v) => ({ v, fromX: false }))].sort((a, b) => a.v - b.v);
  const n = n1 + n2;
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const t = j - i + 1;
    const rank = (i + j) / 2 + 1; // average of ranks i+1 … j+1
    for (let k = i; k <= j; k++) if (all[k].fromX) rankSumX += rank;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  const u1 = rankSumX - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const sd = Math.sqrt(variance);
  let z = 0;
  if (sd > 0) {
    const diff = u1 - mean;
    const cc = opts.continuity === false ? 0 : Math.sign(diff) * Math.min(0.5, Math.abs(diff));
    z = (diff - cc) / sd;
  }
  const pValue = sd > 0 ? Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) : 1;
  return { u1, u2, u: Math.min(u1, u2), z, pValue, n1, n2 };
}

/**
 * Complementary error function, accurate to about 1e-15 relative: a continued fraction for
 * large x and the Taylor series of erf for small x.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    // erf(x) = 2/√π · Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let sum = 0;
    let term = x;
    for (let k = 0; k < 200; k++) {
      const add = term / (2 * k + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      term *= (-x * x) / (k + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Lentz's method for erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Standard normal cumulative distribution. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Percentile (0–100) by linear interpolation between closest ranks (numpy's default). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * Exact two-sided binomial test: the probability, when each of `n` trials succeeds with
 * probability `p`, of an outcome no more likely than `k` successes (the method of R's binom.test).
 */
export function binomialTwoSidedP(k: number, n: number, p: number): number {
  if (n <= 0) return 1;
  if (p <= 0) return k === 0 ? 1 : 0;
  if (p >= 1) return k === n ? 1 : 0;
  const logFact = [0];
  for (let i = 1; i <= n; i++) logFact.push(logFact[i - 1] + Math.log(i));
  const logPmf = (i: number) => logFact[n] - logFact[i] - logFact[n - i] + i * Math.log(p) + (n - i) * Math.log1p(-p);
  const observed = logPmf(k);
  // A relative tolerance, as R uses, so that outcomes exactly as likely as k count despite rounding.
  const limit = observed + Math.log1p(1e-7);
  let total = 0;
  for (let i = 0; i <= n; i++) {
    const l = logPmf(i);
    if (l <= limit) total += Math.exp(l);
  }
  return Math.min(1, total);
}
