import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';

export function durationFlag(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 30s or 5m, got "${value}"`);
  return ms;
}
