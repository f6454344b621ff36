import type { z } from 'zod';
import type { ConfigIssue } from '../core/errors.js';
import { keysAt } from './schema-keys.js';
import { synonymFor } from './key-synonyms.js';

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

/**
 * Turns zod issues into one line per problem, with the path and a message that says the fix.
 * `schema` and `input` let it suggest the keys that exist where an unknown one was found, and
 * tell a missing field from a wrong one.
 */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, input: unknown, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, path, input);
      for (const key of issue.keys) {
        const guess = closest(key, known) ?? synonymFor(key, known);
        out.push({
          path: formatPath([...path, key]),
          message: `unknown key${guess ? `; did you mean "${guess}"?` : ' (remove it: unknown keys are errors so that a typo cannot silently disable a check)'}`,
        });
      }
      continue;
    }
    if (valueAt(input, path) === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'custom')) {
      out.push({ path: formatPath(path), message: requiredMessage(issue.message) });
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length) {
      // A branch whose problems lie deeper matched the shape: its messages say what is wrong.
      const branches = flattenBranches(issue.errors);
      const deeper = branches.filter((b) => b.some((e) => e.path.length > 0 || e.code === 'unrecognized_keys'));
      const best = deeper.sort((a, b) => depth(b) - depth(a))[0];
      if (best && (GENERIC.test(issue.message) || deeper.length === 1)) {
        out.push(...formatZodIssues(best, schema, input, path));
        continue;
      }
      if (GENERIC.test(issue.message)) {
        const specific = branches.flat().find((e) => !GENERIC.test(e.message) && !(e.code === 'invalid_union'));
        if (specific) {
          out.push({ path: formatPath(path), message: specific.message });
          continue;
        }
      }
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return dedupe(out);
}

function requiredMessage(message: string): string {
  return message.startsWith('is required') ? message : 'is required';
}

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p as string];
  }
  return v;
}

/** A union inside a union: its branches count as branches of the outer one. */
function flattenBranches(branches: readonly (readonly z.core.$ZodIssue[])[]): (readonly z.core.$ZodIssue[])[] {
  const out: (readonly z.core.$ZodIssue[])[] = [];
  for (const b of branches) {
    if (b.length === 1 && b[0].code === 'invalid_union' && b[0].path.length === 0) {
      // The union's own message (written for people) comes before its branches' generic ones.
      if (!GENERIC.test(b[0].message)) out.push([{ ...b[0], code: 'custom', errors: undefined } as unknown as z.core.$ZodIssue]);
      out.push(...flattenBranches(b[0].errors));
    } else out.push(b);
  }
  return out;
}

function depth(errors: readonly z.core.$ZodIssue[]): number {
  return Math.max(...errors.map((e) => e.path.length));
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
    if (k === key) continue;
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Edit distance where swapping two neighbours counts as one edit ("stpes" → "steps"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
