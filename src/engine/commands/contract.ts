// `zdd contract`: the last release's pending contract migration, once the old revision is gone.
import { UsageError, ZddError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { NOT_SETTLED } from '../deployment-record.js';
import { endLeftoverHook } from '../left-over-hook.js';
import { keptRevision } from '../kept-revision.js';
import { nothingToDo, type Outcome } from '../outcomes.js';
import { contractFailedOutcome, executeMigration, settleMigrationInFlight, type MigrationAnswer } from '../migrations.js';
import type { RunKit } from '../run-kit.js';

/**
 * `zdd contract`: run the pending contract migration of the last release, from any machine that
 * shares the state, once the old revision is retired. Recorded on that release's record.
 */
export async function contract(kit: RunKit, opts: { lockWaitMs: number; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
  const { deps } = kit;
  const service = deps.config.service;
  const first = await deps.store.records.latest(service);
  if (!first?.migrations?.contract) return nothingToDo(`No contract migration is pending: the last run${first ? ` (${first.id})` : ''} has none. \`zdd history\` shows the schema version of each release.`);
  return kit.withLock((lock) => lock.acquire(first.id, opts.lockWaitMs, deps.signal), async (lock, runner) => {
    // Read again under the lock: another machine may have run it meanwhile.
    const record = await deps.store.records.latest(service);
    const contract = record?.migrations?.contract;
    if (!record || record.id !== first.id || !contract) return nothingToDo('The last run changed while zdd took the lock; nothing was changed. Run `zdd contract` again.');
    if (NOT_SETTLED.includes(record.status)) {
      throw new UsageError(`The last deploy (${record.id}, ${record.candidate.id}) is ${record.status}: its contract waits for it to finish.`, 'Finish it with `zdd promote` (or give it up with `zdd rollback`), then run `zdd contract`.');
    }
    if (record.status !== 'succeeded') return nothingToDo(`The last deploy (${record.id}) ended ${record.status}: its contract migration ${contract.id} no longer applies, and was not run.`);
    const save = () => runner.save(record);
    await endLeftoverHook(deps, runner, record, 'rollback');
    await settleMigrationInFlight(deps, record, opts.migrationAnswer, 'contract', save);
    if (contract.state === 'done') return nothingToDo(`Contract migration ${contract.id} already ran${contract.endedAt ? ` (${contract.endedAt})` : ''}; nothing was changed.`);
    // The old revision must be gone: the contract removes what it needs.
    const old = record.stable?.id;
    const kept = keptRevision(record);
    if (kept) throw new UsageError(`Not running contract migration ${contract.id}: the old revision ${kept.revision.id} is still kept (until ${kept.retireAt}) for instant rollback, and it needs what the contract drops. Nothing was changed.`, 'Retire it first (`zdd retire`, or `zdd retire --now`), then run `zdd contract`.');
    const live = await deps.provider.snapshot();
    const stillRuns = old ? live.revisions.find((r) => r.revision.id === old && r.desired > 0) : undefined;
    if (old && (stillRuns || (live.weights[old] ?? 0) > 0)) {
      throw new UsageError(`Not running contract migration ${contract.id}: the old revision ${old} still runs (${live.weights[old] ?? 0}% of traffic) and needs what the contract drops. Nothing was changed.`, '`zdd status` shows what runs; retire it first.');
    }
    await lock.beforeProviderWrite();
    try {
      await executeMigration('contract', { deps, record, signal: deps.signal, save });
    } catch (e) {
      if (e instanceof ZddError && e.code === 'hook-failed') return contractFailedOutcome(record)!;
      throw e;
    }
    const v = record.migrations?.schemaVersion;
    return {
      result: 'succeeded',
      exitCode: ExitCode.Ok,
      message: `Contract migration ${contract.id} ran (recorded on release ${record.id}).${v ? ` The schema is on version ${v} only: \`zdd rollback\` to a revision that needs an older one is refused from now on (--force to do it anyway).` : ''}`,
      record,
    };
  });
}
