import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/**
 * What parseDuration accepts as text (src/core/duration.ts), spelled so that the JSON Schema carries
 * it: whole milliseconds, or number+unit pairs such as `1h30m`.
 */
export const DURATION_PATTERN = /^\s*(?:\d+|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)\s*$/;

/**
 * Built once and shared: schemas are immutable, and a config schema uses these helpers ~140 times.
 * Each fresh copy cost 3–8 zod instances (about a third of the schema's construction, the bulk of
 * every command's start); a described one now costs one (`describe` clones to carry its text).
 */
const shared = new Map<string, z.ZodType>();
function once<T extends z.ZodType>(key: string, build: () => T): T {
  let s = shared.get(key) as T | undefined;
  if (!s) shared.set(key, (s = build()));
  return s;
}

/** A duration: `500ms`, `30s`, `5m`, `1h30m`, or a number of milliseconds. Parsed to ms. */
export function duration(description?: string) {
  const s = once('duration', () => {
    const badText = (iss: { input?: unknown }) => `must be a duration like "30s", "5m" or "1h30m", got ${show(iss.input)}`;
    return z
      .union([z.string().regex(DURATION_PATTERN, { error: badText }), z.number().min(0, { error: (iss) => `must be a duration like "30s" or "5m", or a number of milliseconds (0 or more), got ${show(iss.input)}` })], {
        error: (iss) => `must be a duration like "30s" or "5m", got ${show(iss.input)}`,
      })
      .transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === undefined) {
          ctx.issues.push({ code: 'custom', input: v, message: `must be a duration like "30s", "5m" or "1h30m", got ${show(v)}` });
          return z.NEVER;
        }
        return ms;
      });
  });
  return description ? s.describe(description) : s;
}

/** A whole number in [min, max] with a message that states the range and what was given. */
export function intBetween(min: number, max: number, description?: string) {
  const s = once(`int ${min} ${max}`, () =>
    z
      .number({ error: (iss) => `must be a number ${min}–${max}, got ${show(iss.input)}` })
      .int({ error: (iss) => `must be a whole number ${min}–${max}, got ${show(iss.input)}` })
      // .min/.max (not a refinement) so that the JSON Schema carries the bounds.
      .min(min, { error: (iss) => `must be ${min}–${max}, got ${show(iss.input)}` })
      .max(max, { error: (iss) => `must be ${min}–${max}, got ${show(iss.input)}` }),
  );
  return description ? s.describe(description) : s;
}

export function nonEmptyString(description?: string) {
  const s = once('non-empty string', () => z.string({ error: (iss) => `must be a string, got ${show(iss.input)}` }).min(1, { error: 'must not be empty' }));
  return description ? s.describe(description) : s;
}

/** An HTTP cookie name (RFC 6265's token characters): the sticky-session cookie of the local and HAProxy routers. */
export function cookieName(description: string) {
  return z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: (iss) => `must be a cookie name (letters, digits, - _ . and a few symbols), got ${show(iss.input)}` })
    .describe(description);
}

/** A function value (hooks, custom strategies and providers written in the config). */
export function fn<T extends (...args: any[]) => unknown>(description?: string) {
  const s = z.custom<T>((v) => typeof v === 'function', { error: (iss) => `must be a function, got ${show(iss.input)}` });
  return description ? s.describe(description) : s;
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  try {
    const j = JSON.stringify(v);
    return j.length > 60 ? `${j.slice(0, 57)}...` : j;
  } catch {
    return String(v);
  }
}
