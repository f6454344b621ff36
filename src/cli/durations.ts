import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';

export function durationFlag(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 30s or 5m, got "${value}"`);
  return ms;
}

/** `--migration-ran` / `--migration-not-run`: a person's word on a migration a crash cut short (docs/migrations.md). */
export function migrationAnswerFlag(flags: { migrationRan?: boolean; migrationNotRun?: boolean }): 'ran' | 'not-run' | undefined {
  if (flags.migrationRan && flags.migrationNotRun) throw new UsageError('--migration-ran and --migration-not-run cannot both be given', 'Check the database, then pass the one that is true.');
  return flags.migrationRan ? 'ran' : flags.migrationNotRun ? 'not-run' : undefined;
}
