// `zdd restore`: the router back to what the last finished run wrote.
import { ExitCode } from '../../core/exit-codes.js';
import { nothingToDo, type Outcome } from '../outcomes.js';
import { formatWeights } from '../../core/weights.js';
import { applyWrittenRestore, describeChanges, planWrittenRestore, type WrittenRestorePlan } from '../restore-written.js';
import type { RunKit } from '../run-kit.js';

/**
 * `zdd restore`: the router back to the weights the last finished run wrote (changed outside zdd
 * since), one write read back, noted on that record. Revisions and replicas are not touched.
 */
export async function restoreWritten(kit: RunKit, opts: { dryRun?: boolean; lockWaitMs: number }): Promise<Outcome> {
  const { deps } = kit;
  await kit.preflight();
  const first = await planWrittenRestore(deps);
  const same = (plan: WrittenRestorePlan) => nothingToDo(`The router already holds what deploy ${plan.record.id} wrote (${formatWeights(plan.want)}); nothing was changed.`);
  if (!first.changes.length) return same(first);
  if (opts.dryRun) {
    return { result: 'succeeded', exitCode: ExitCode.Ok, message: `zdd restore would set the router to what deploy ${first.record.id} wrote, ${formatWeights(first.want)}: ${describeChanges(first)}. Revisions and instances stay as they are. Nothing was changed (--dry-run).` };
  }
  return kit.withLock((lock) => lock.acquire(first.record.id, opts.lockWaitMs, deps.signal), async (lock) => {
    // Again under the lock: a deploy may have finished in between.
    const plan = await planWrittenRestore(deps, true);
    if (!plan.changes.length) return same(plan);
    deps.events.emit({ type: 'info', message: `Restoring what deploy ${plan.record.id} wrote: ${describeChanges(plan)}` });
    return applyWrittenRestore(deps, lock, plan);
  });
}
