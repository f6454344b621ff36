import type { MigrationsConfig } from '../config/migrations-schema.js';
import { ConfigError, HookFailedError, UsageError, ZddError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { formatDuration, type MigrationStep, type Step } from '../core/plan.js';
import type { DeploymentRecord, MigrationRun } from '../core/state.js';
import { hookProcess } from '../hooks/hook-process.js';
import { runCommand } from '../hooks/run-command.js';
import { nowIso, type EngineDeps } from './engine-deps.js';
import { hookEnv } from './hook-env.js';

/**
 * Database migrations in phases (docs/migrations.md): where they go in a plan, how one runs
 * (checkpointed before and after, under an id), what a person must settle after a crash, and the
 * rollback guard that keeps a revision off a schema contracted past what it needs.
 */

export const DEFAULT_MIGRATION_TIMEOUT_MS = 10 * 60_000;
export type MigrationPhase = MigrationStep['phase'];
/** A person's word on a migration zdd lost track of: `--migration-ran` / `--migration-not-run`. */
export type MigrationAnswer = 'ran' | 'not-run';

const SCHEMA_LINE = /^ZDD_SCHEMA_VERSION=(\S+)\s*$/;

/**
 * The plan with its migration steps: expand right after the preDeploy hooks (before the candidate
 * starts, so its health checks may already use the new schema), contract right after stable is
 * retired. A contract that cannot run inside the deploy (manual, stable kept for instant rollback,
 * or no retirement in the plan) is only marked pending there, for `zdd contract`.
 */
export function withMigrations(steps: Step[], migrations: MigrationsConfig | undefined, hasStable: boolean): Step[] {
  if (!migrations) return steps;
  const out = [...steps];
  if (migrations.expand) {
    let at = 0;
    while (at < out.length && out[at].kind === 'hook') at++;
    out.splice(at, 0, { kind: 'migration', phase: 'expand' });
  }
  if (migrations.contract && hasStable) {
    const when = migrations.contract.when ?? { manual: true };
    const retire = out.findLastIndex((s) => s.kind === 'retire' && s.role === 'stable');
    const retireStep = out[retire];
    const kept = retireStep?.kind === 'retire' && !!retireStep.afterMs;
    const step: MigrationStep =
      when.manual || kept || retire < 0 ? { kind: 'migration', phase: 'contract', manual: true } : { kind: 'migration', phase: 'contract', ...(when.afterMs ? { afterMs: when.afterMs } : {}) };
    out.splice(retire < 0 ? out.length : retire + 1, 0, step);
  }
  return out;
}

export function migrationId(record: Pick<DeploymentRecord, 'id'>, phase: MigrationPhase): string {
  return `${record.id}-${phase}`;
}

function commandText(run: string | string[]): string {
  return Array.isArray(run) ? run.join(' ') : run;
}

function configOf(deps: Pick<EngineDeps, 'config'>, phase: MigrationPhase) {
  const cfg = deps.config.migrations?.[phase];
  if (!cfg) throw new ConfigError([{ path: `migrations.${phase}`, message: `is needed by the ${phase} migration of this run but not configured; put it back in the config (or settle the run with \`zdd rollback\`)` }]);
  return cfg;
}

/** The schema version the newest record that ran `revisionId` says it needs. */
export function schemaVersionOf(history: DeploymentRecord[], revisionId: string): string | undefined {
  for (const r of history) {
    if (r.candidate.id === revisionId && r.migrations?.schemaVersion) return r.migrations.schemaVersion;
    if (r.stable?.id === revisionId && r.migrations?.stableSchemaVersion) return r.migrations.stableSchemaVersion;
  }
  return undefined;
}

/** Schema versions per revision id, from the records (newest record wins): `zdd status` shows them. */
export function schemaVersions(history: DeploymentRecord[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of history) {
    for (const id of [r.candidate.id, r.stable?.id]) if (id && !(id in out)) { const v = schemaVersionOf(history, id); if (v) out[id] = v; }
  }
  return out;
}

/** A new run's schema versions: the candidate's from the config (expand may override it), stable's from its own record. */
export function initMigrations(record: DeploymentRecord, deps: Pick<EngineDeps, 'config'>, history: DeploymentRecord[], candidateVersion?: string): void {
  const schemaVersion = candidateVersion ?? deps.config.migrations?.schemaVersion;
  const stableSchemaVersion = record.stable ? schemaVersionOf(history, record.stable.id) : undefined;
  if (schemaVersion === undefined && stableSchemaVersion === undefined && !deps.config.migrations) return;
  record.migrations = { ...(schemaVersion ? { schemaVersion } : {}), ...(stableSchemaVersion ? { stableSchemaVersion } : {}) };
}

export interface MigrationContext {
  deps: EngineDeps;
  record: DeploymentRecord;
  signal: AbortSignal;
  /** Checkpoint the record (the lock is checked there). */
  save: () => Promise<void>;
}

/**
 * A migration step of a deploy. Expand failing fails the deploy (rollback: the old revision never
 * needed what expand added). Contract failing never rolls back: the old revision is gone and the
 * schema may be half-contracted; the run ends succeeded with the contract failed (exit 4, see
 * migrationOutcome).
 */
export async function runMigrationStep(step: MigrationStep, ctx: MigrationContext): Promise<void> {
  const { deps, record } = ctx;
  const migrations = (record.migrations ??= {});
  const done = migrations[step.phase];
  if (done?.state === 'done') return;
  if (done?.state === 'running') throw unsettled(done, step.phase, 'promote');
  const cfg = configOf(deps, step.phase);
  if (step.manual) {
    migrations.contract = { id: migrationId(record, 'contract'), command: commandText(cfg.command), state: 'pending' };
    deps.events.emit({ type: 'info', message: `Contract migration ${migrations.contract.id} is pending: run \`zdd contract\` once the old revision is retired and nothing needs it` });
    return;
  }
  if (step.afterMs) {
    const dueAt = done?.dueAt ?? new Date(deps.clock.now() + step.afterMs).toISOString();
    migrations.contract = { id: migrationId(record, 'contract'), command: commandText(cfg.command), state: 'pending', dueAt };
    await ctx.save();
    deps.events.emit({ type: 'info', message: `Contract migration ${migrations.contract.id} runs at ${dueAt} (${formatDuration(step.afterMs)} after release); \`zdd rollback\` before then still works as usual` });
    while (deps.clock.now() < Date.parse(dueAt)) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await deps.clock.sleep(Math.min(Date.parse(dueAt) - deps.clock.now(), 1000), ctx.signal);
    }
  }
  try {
    await executeMigration(step.phase, ctx);
  } catch (e) {
    if (step.phase === 'expand') throw e;
    deps.events.emit({ type: 'warn', message: `${e instanceof Error ? e.message : String(e)}; the release stands (the old revision is retired), the contract is left for a person` });
  }
}

/**
 * Run one migration command through the hook runner's process handling: the record says
 * `running` (with its id, host, pid and process group) before it starts and `done`/`failed` after.
 */
export async function executeMigration(phase: MigrationPhase, ctx: MigrationContext): Promise<MigrationRun> {
  const { deps, record, signal } = ctx;
  const cfg = configOf(deps, phase);
  const migrations = (record.migrations ??= {});
  const run: MigrationRun = {
    id: migrationId(record, phase),
    command: commandText(cfg.command),
    state: 'running',
    ...(migrations[phase]?.dueAt ? { dueAt: migrations[phase]!.dueAt } : {}),
    startedAt: nowIso(deps),
    host: deps.holder.host,
    pid: deps.holder.pid,
  };
  migrations[phase] = run;
  await ctx.save();
  const env = {
    ...(await hookEnv(deps, record, 'deploy')),
    ZDD_MIGRATION_ID: run.id,
    ZDD_MIGRATION_PHASE: phase,
    ...(migrations.schemaVersion ? { ZDD_SCHEMA_VERSION: migrations.schemaVersion } : {}),
    ...(migrations.stableSchemaVersion ? { ZDD_STABLE_SCHEMA_VERSION: migrations.stableSchemaVersion } : {}),
    ...cfg.env,
  };
  const label = `migration ${phase} ${run.id}`;
  const timeoutMs = cfg.timeout ?? DEFAULT_MIGRATION_TIMEOUT_MS;
  let r;
  try {
    r = await runCommand(cfg.command, {
      cwd: deps.configDir,
      env,
      timeoutMs,
      signal,
      onSpawn: async (pgid) => {
        record.hookProcess = hookProcess(label, pgid, deps.holder.host, nowIso(deps));
        await ctx.save();
        // Said once the record names its process group: a killed zdd leaves it endable.
        deps.events.emit({ type: 'hook', hook: label, status: 'start' });
      },
    });
  } finally {
    record.hookProcess = undefined;
  }
  run.endedAt = nowIso(deps);
  const failure = r.spawnError
    ? `could not start: ${r.spawnError}`
    : r.timedOut
      ? `timed out after ${formatDuration(timeoutMs)}; its process tree was killed`
      : signal.aborted
        ? 'was interrupted; its process tree was killed'
        : r.exitCode !== 0
          ? r.exitCode === null ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`
          : undefined;
  if (failure === undefined) {
    run.state = 'done';
    const printed = r.stdoutTail.map((l) => SCHEMA_LINE.exec(l.trim())?.[1]).filter(Boolean).pop();
    if (phase === 'expand' && printed) migrations.schemaVersion = printed;
    await ctx.save();
    deps.events.emit({ type: 'hook', hook: label, status: 'ok', durationMs: r.durationMs });
    return run;
  }
  const tail = r.stderrTail.filter(Boolean).slice(-5);
  run.state = 'failed';
  run.error = `Migration ${phase} ${run.id} (\`${run.command}\`) ${failure}${tail.length ? `\n  last stderr lines:\n${tail.map((l) => `    ${l}`).join('\n')}` : ''}`;
  await ctx.save();
  deps.events.emit({ type: 'hook', hook: label, status: 'failed', durationMs: r.durationMs, message: run.error });
  if (signal.aborted) throw signal.reason;
  throw new HookFailedError(run.error, `It may have changed part of the schema: check the database before running it again${phase === 'contract' ? ' (`zdd contract`)' : ''}.`);
}

/** The migration a killed zdd left `running`, if any. */
export function migrationInFlight(record: DeploymentRecord): { phase: MigrationPhase; run: MigrationRun } | undefined {
  for (const phase of ['expand', 'contract'] as const) {
    const run = record.migrations?.[phase];
    if (run?.state === 'running') return { phase, run };
  }
  return undefined;
}

function unsettled(run: MigrationRun, phase: MigrationPhase, command: string): ZddError {
  const check =
    phase === 'expand'
      ? 'whether what it adds (columns, tables) is there'
      : 'whether what it drops is gone';
  return new ZddError(
    'migration-unknown',
    `Migration ${phase} ${run.id} (\`${run.command}\`) started at ${run.startedAt} on ${run.host} (zdd pid ${run.pid}) and zdd stopped before it ended: it may have run in part, in full, or not at all. zdd does not run a migration twice, nor go on past one, without knowing. Nothing was changed.`,
    {
      exitCode: ExitCode.NeedsPerson,
      hint: `Check the database: ${check}, and your migration tool's log for id ${run.id} (the command had it as ZDD_MIGRATION_ID). Then run \`zdd ${command} --migration-ran\` (it took effect: go on without it) or \`zdd ${command} --migration-not-run\` (nothing changed: run it again).`,
    },
  );
}

/**
 * Before a resume, a rollback or `zdd contract` acts on a record whose migration was cut short:
 * stop (exit 4) unless a person said whether it ran. `ran` skips its step; `not-run` lets it run again.
 */
export async function settleMigrationInFlight(deps: EngineDeps, record: DeploymentRecord, answer: MigrationAnswer | undefined, command: string, save: () => Promise<void>): Promise<void> {
  const found = migrationInFlight(record);
  if (!found) {
    if (answer) deps.events.emit({ type: 'info', message: `No migration of ${record.id} was left unfinished; --migration-${answer} changes nothing` });
    return;
  }
  const { phase, run } = found;
  if (!answer) throw unsettled(run, phase, command);
  run.state = answer === 'ran' ? 'done' : 'not-run';
  run.endedAt ??= nowIso(deps);
  run.settledBy = `${deps.holder.who}@${deps.holder.host} at ${nowIso(deps)} (--migration-${answer})`;
  const step = record.plan[record.stepIndex];
  if (answer === 'ran' && step?.kind === 'migration' && step.phase === phase && record.status !== 'rolling-back') {
    record.stepIndex += 1;
    record.inFlight = undefined;
  }
  deps.events.emit({ type: 'info', message: `Migration ${phase} ${run.id}: recorded as ${answer === 'ran' ? 'run (it will not run again)' : 'not run (it runs again when its step comes)'}, as a person said` });
  await save();
}

/**
 * The rollback guard: after a contract ran, a revision that needs a schema from before it is
 * refused (exit 2) unless `force`. A revision whose schema was expanded again since is let through.
 */
export function contractGuard(deps: Pick<EngineDeps, 'events'>, history: DeploymentRecord[], targetId: string, force: boolean): void {
  const at = history.findIndex((r) => r.migrations?.contract?.state === 'done');
  if (at < 0) return;
  const c = history[at];
  const contracted = c.migrations!.schemaVersion;
  const need = schemaVersionOf(history, targetId);
  if (need !== undefined && need === contracted) return;
  const newer = history.slice(0, at);
  if (need !== undefined && newer.some((r) => r.migrations?.schemaVersion === need && r.migrations.expand?.state === 'done')) return;
  if (need === undefined && newer.some((r) => r.candidate.id === targetId)) return;
  const contract = c.migrations!.contract!;
  const message =
    `Refusing to roll back to ${targetId}: it needs schema ${need ?? '(not recorded)'}, but release ${c.id} (${c.stable?.id ?? '?'} → ${c.candidate.id}) ran its contract migration ${contract.id} (\`${contract.command}\`) at ${contract.endedAt ?? contract.startedAt}, ` +
    `which removed what revisions before schema ${contracted ?? '(not recorded)'} need: ${targetId} would run against a schema it does not know. Nothing was changed.`;
  const hint = `Fix forward (deploy a revision that works with schema ${contracted ?? 'as it is now'}), or restore what the contract removed first; \`zdd rollback --force\` rolls back anyway.`;
  if (force) {
    deps.events.emit({ type: 'warn', message: `${message.replace(/^Refusing to/, '--force: going on to').replace(/ Nothing was changed\.$/, '')}` });
    return;
  }
  throw new UsageError(message, hint);
}

/** An unfinished deploy whose contract ran: rolling back would bring stable back onto a schema without what it needs. */
export function unfinishedContractGuard(deps: Pick<EngineDeps, 'events'>, record: DeploymentRecord, force: boolean): void {
  const contract = record.migrations?.contract;
  if (contract?.state !== 'done') return;
  const stableId = record.stable?.id ?? '(none)';
  const message = `Refusing to roll deploy ${record.id} back to ${stableId}: its contract migration ${contract.id} (\`${contract.command}\`) ran, so ${stableId} (schema ${record.migrations?.stableSchemaVersion ?? 'not recorded'}) would run against a schema without what it needs. Nothing was changed.`;
  if (force) {
    deps.events.emit({ type: 'warn', message: message.replace(/^Refusing to/, '--force: going on to').replace(/ Nothing was changed\.$/, '') });
    return;
  }
  throw new UsageError(message, `\`zdd promote\` finishes the deploy instead; \`zdd rollback --force\` rolls back anyway.`);
}

/** A deploy that succeeded but whose contract failed: production serves the candidate, the schema needs a person (exit 4). */
export function contractFailedOutcome(record: DeploymentRecord): { result: 'failed'; exitCode: typeof ExitCode.NeedsPerson; message: string; hint: string; record: DeploymentRecord } | undefined {
  const contract = record.migrations?.contract;
  if (contract?.state !== 'failed') return undefined;
  return {
    result: 'failed',
    exitCode: ExitCode.NeedsPerson,
    message: `Deployed ${record.candidate.id}: it serves 100% of production, but its contract migration failed: ${contract.error ?? contract.id}`,
    hint: 'Check the database (the contract may have run in part), then `zdd contract` runs it again. Until it has run, `zdd rollback` works as before.',
    record,
  };
}

/** A new deploy over a release whose contract never ran: `zdd contract` will only know the new release's, so say what is left. */
export function warnPendingContract(deps: Pick<EngineDeps, 'events'>, last: DeploymentRecord | null): void {
  const contract = last?.migrations?.contract;
  if (!last || last.status !== 'succeeded' || !contract || contract.state === 'done') return;
  deps.events.emit({
    type: 'warn',
    message: `The contract migration ${contract.id} of release ${last.id} (${last.candidate.id}) is ${contract.state} and was never run; after this deploy \`zdd contract\` runs only the new release's contract. Run \`${contract.command}\` yourself once nothing needs what it drops (docs/migrations.md).`,
  });
}
