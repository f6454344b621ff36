import { UsageError } from '../core/errors.js';
import type { RevisionSpec } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { nothingToDo, type Outcome } from './outcomes.js';
import type { CurrentState } from './planning.js';

/** Records read to find what a rollback can restore. */
export const HISTORY_LIMIT = 50;

/**
 * Which revision `zdd rollback` restores after a finished deploy: the one before the serving one,
 * or `to`. It goes back one revision only: a second rollback right after a restore says so (and
 * how to go further) instead of walking on. An Outcome means there is nothing to do.
 */
export function restoreTarget(args: {
  service: string;
  current: CurrentState;
  history: DeploymentRecord[];
  to?: string;
  isRestore: (record: DeploymentRecord) => boolean;
}): { target: RevisionSpec; stable?: { revision: RevisionSpec; replicas: number } } | Outcome {
  const { current, history, to, isRestore } = args;
  if (!current.stable) return nothingToDo('Nothing to roll back: no revision serves production.');
  const from = current.stable.revision.id;
  const recorded = recordedRevisions(history, current).filter((r) => r.id !== from);
  const ids = recorded.map((r) => r.id).join(', ');
  const further = recorded.length ? `\`zdd rollback --to <revision>\` (recorded: ${ids})` : '`zdd rollback --to <revision>`';
  if (to !== undefined) {
    if (to === from) {
      // `to` has the most weight, but someone gave another revision some (drift): put it back on
      // 100%, restoring from the revision that holds the stray weight.
      const stray = current.others.filter((o) => o.weight > 0).sort((a, b) => b.weight - a.weight)[0];
      if (!stray) return nothingToDo(`Revision ${from} already serves 100% of production; nothing to roll back.`);
      return { target: current.stable.revision, stable: { revision: stray.revision, replicas: stray.replicas } };
    }
    const target = recorded.find((r) => r.id === to);
    if (!target) throw new UsageError(`Revision "${to}" is neither running nor recorded for ${args.service}; nothing was changed.`, recorded.length ? `Pass one of: ${ids}.` : 'No other revision is recorded.');
    return { target };
  }
  const lastChange = history.find((r) => r.status === 'succeeded');
  if (lastChange && isRestore(lastChange) && lastChange.candidate.id === from) {
    return nothingToDo(
      `${from} is already the revision the last rollback restored (from ${lastChange.stable?.id ?? '(none)'}, ${lastChange.finishedAt ?? lastChange.updatedAt}); \`zdd rollback\` does not walk further back on its own.`,
      `To go further back, run ${further}.`,
    );
  }
  const target = previousOf(history.filter((r) => !isRestore(r)), from);
  if (!target) return nothingToDo(`Nothing to roll back to: no revision before ${from} is recorded.`, recorded.length ? `To restore another revision, run ${further}.` : undefined);
  return { target };
}

/** Every revision a rollback can restore: those running, then those the records name, newest first, each once. */
function recordedRevisions(history: DeploymentRecord[], current: CurrentState): RevisionSpec[] {
  const seen = new Map<string, RevisionSpec>();
  for (const o of current.others) seen.set(o.revision.id, o.revision);
  for (const r of history) {
    for (const rev of [r.candidate, r.stable]) if (rev && !seen.has(rev.id)) seen.set(rev.id, rev);
  }
  return [...seen.values()];
}

/** The revision that served before `currentId`: the stable of the newest deploy that made it serve. */
function previousOf(deploys: DeploymentRecord[], currentId: string): RevisionSpec | null {
  for (const r of deploys) {
    if (r.status === 'succeeded' && r.candidate.id === currentId && r.stable && r.stable.id !== currentId) return r.stable;
  }
  return null;
}
