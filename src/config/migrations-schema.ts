import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { duration, nonEmptyString, show } from './schema-helpers.js';

/** When the contract migration runs: right after the release (after the old revision is retired), a delay after that, or by `zdd contract`. */
export type ContractWhen = { manual: true } | { manual?: false; afterMs: number };

const contractWhen = z
  .string({ error: (iss) => `must be "after-release", "<duration> after release" (e.g. "1h after release") or "manual", got ${show(iss.input)}` })
  .transform((v, ctx): ContractWhen => {
    const s = v.trim();
    if (s === 'manual') return { manual: true };
    if (s === 'after-release') return { afterMs: 0 };
    const m = /^(.+?)\s+after[ -]release$/.exec(s);
    const ms = m ? parseDuration(m[1]) : undefined;
    if (ms === undefined) {
      ctx.issues.push({ code: 'custom', input: v, message: `must be "after-release", "<duration> after release" (e.g. "1h after release") or "manual", got ${show(v)}` });
      return z.NEVER;
    }
    return { afterMs: ms };
  });

const command = z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)], { error: (iss) => `must be a shell command string or an argv array, got ${show(iss.input)}` });

const expandSchema = z.strictObject({
  command: command.describe('Backward-compatible schema change (add columns, tables): shell command, or argv array run without a shell. Its last line may be `ZDD_SCHEMA_VERSION=<v>`'),
  timeout: duration('Kill its whole process tree after this long (default 10m)').optional(),
  env: z.record(z.string(), z.string()).optional().describe('Extra environment (ZDD_MIGRATION_ID, ZDD_MIGRATION_PHASE, ZDD_SCHEMA_VERSION and the hooks\' ZDD_* are set)'),
});

const contractSchema = z.strictObject({
  command: command.describe('Removes what only the old revision needed (drop columns, tables); runs once the old revision is retired and the release succeeded'),
  timeout: duration('Kill its whole process tree after this long (default 10m)').optional(),
  env: z.record(z.string(), z.string()).optional().describe('Extra environment (ZDD_MIGRATION_ID, ZDD_MIGRATION_PHASE, ZDD_SCHEMA_VERSION and the hooks\' ZDD_* are set)'),
  when: contractWhen.optional().describe('"after-release" (at the end of the deploy), "<duration> after release" (e.g. "30m after release": the deploy waits, then runs it) or "manual" (`zdd contract` runs it later, from any machine sharing the state). Default "manual"'),
});

/**
 * `migrations`: database changes in phases (docs/migrations.md). Expand runs before the candidate
 * gets any traffic; contract only after the old revision is retired. The schema version each
 * revision needs is recorded, so that a rollback across a contract is refused.
 */
export const migrationsSchema = z.strictObject({
  expand: expandSchema.optional().describe('Runs before the candidate starts or gets any traffic; must keep the old revision working'),
  contract: contractSchema.optional().describe('Runs after the old revision is retired and the release succeeded'),
  schemaVersion: nonEmptyString('The schema version the revision being deployed needs (e.g. "2"); the expand command\'s last output line `ZDD_SCHEMA_VERSION=<v>` overrides it').optional(),
});

export type MigrationsConfig = z.output<typeof migrationsSchema>;
export type MigrationCommandConfig = NonNullable<MigrationsConfig['expand']>;
