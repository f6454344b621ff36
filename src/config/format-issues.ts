import type { z } from 'zod';
import type { ConfigIssue } from '../core/errors.js';

/** `['strategies','canary','steps',2,'weight']` → `strategies.canary.steps[2].weight`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

const GENERIC = /^Invalid input/;

/** Turns zod issues into one line per problem, with the path and a message that says the fix. */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], knownKeys: readonly string[], prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const guess = closest(key, knownKeys);
        out.push({
          path: formatPath([...path, key]),
          message: `unknown key${guess ? `; did you mean "${guess}"?` : ' (remove it: unknown keys are errors so that a typo cannot silently disable a check)'}`,
        });
      }
      continue;
    }
    if (issue.code === 'invalid_union' && GENERIC.test(issue.message) && issue.errors.length) {
      // Use the branch that got furthest: its messages say what is actually wrong.
      const branches = issue.errors.filter((b) => b.length && !b.every((e) => GENERIC.test(e.message) && e.path.length === 0));
      const best = branches.sort((a, b) => depth(b) - depth(a))[0];
      if (best) {
        out.push(...formatZodIssues(best, knownKeys, path));
        continue;
      }
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ path: formatPath(path), message: 'is required' });
      continue;
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return dedupe(out);
}

function depth(errors: readonly z.core.$ZodIssue[]): number {
  return Math.max(...errors.map((e) => e.path.length + (GENERIC.test(e.message) ? 0 : 0.5)));
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The known key closest to `key` by edit distance, when close enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
