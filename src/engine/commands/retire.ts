// `zdd retire`: stop kept revisions whose keep time has passed.
import { ExitCode } from '../../core/exit-codes.js';
import { keptIsDue, keptRevision, orphanedKept, retireKept, retireOrphans } from '../kept-revision.js';
import { nothingToDo, type Outcome } from '../outcomes.js';
import type { RunKit } from '../run-kit.js';

/** Retire revisions whose keep time has passed (blue-green's previous stable). */
export async function retireDue(kit: RunKit, opts: { now?: boolean; lockWaitMs: number }): Promise<Outcome> {
  const { deps } = kit;
  const record = await deps.store.records.latest(deps.config.service);
  const kept = keptRevision(record);
  if (!record) return nothingToDo('No kept revision to retire.');
  // Kept by an earlier record and by none since (left by a deploy forced past drift): due now.
  const live = await deps.provider.snapshot();
  const orphans = await orphanedKept(deps, live);
  if (!kept) {
    if (!orphans.length) return nothingToDo('No kept revision to retire.');
    return kit.withLock((lock) => lock.acquire(record.id, opts.lockWaitMs, deps.signal), async (lock) => {
      const retired = await retireOrphans(deps, lock, live);
      if (!retired.length) {
        return { result: 'error', exitCode: ExitCode.NeedsPerson, message: `Did not retire ${orphans.join(', ')}: the router gives ${orphans.length === 1 ? 'it' : 'them'} traffic, so stopping would cut production. Nothing was changed.`, hint: 'Run `zdd status` to see what serves production; `zdd restore` puts back the weights zdd wrote.' };
      }
      return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Retired ${retired.join(', ')} (kept by an earlier deploy, by none since).` };
    });
  }
  if (!keptIsDue(deps, kept) && !opts.now) {
    return nothingToDo(`Revision ${kept.revision.id} is kept until ${kept.retireAt} for instant rollback (pass --now to retire it now).`);
  }
  return kit.withLock((lock) => lock.acquire(record.id, opts.lockWaitMs, deps.signal), async (lock) => {
    const weight = await retireKept(deps, lock, record);
    if (weight !== true) {
      return {
        result: 'error',
        exitCode: ExitCode.NeedsPerson,
        message: `Did not retire ${kept.revision.id}: the router gives it ${weight}% of production, so stopping it would cut traffic. Nothing was changed.`,
        hint: 'Run `zdd status` to see what serves production; `zdd rollback` puts it back in a known state.',
      };
    }
    const alsoRetired = orphans.length ? await retireOrphans(deps, lock, live) : [];
    const also = alsoRetired.length ? ` Also retired ${alsoRetired.join(', ')} (kept by an earlier deploy, by none since).` : '';
    return { result: 'succeeded', exitCode: ExitCode.Ok, message: `Retired ${kept.revision.id}.${also}` };
  });
}
