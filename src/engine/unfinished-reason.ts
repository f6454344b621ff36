import { FIRST_WATCHDOG, type DeploymentRecord, type LockInfo } from '../core/state.js';

/**
 * Why `zdd rollback` rolls back a deploy that did not finish, as the record and the lock tell it:
 * a deploy left running died with its process (when it was last heard), and a provider's watchdog
 * may have put traffic back since (it notes that in the record); then the
 * manual rollback. A rollback already under way keeps its own reason.
 */
export function unfinishedRollbackReason(record: DeploymentRecord, lock: LockInfo | null): string {
  if (record.rollback?.reason) return record.rollback.reason;
  const manual = 'manual rollback of an unfinished deploy';
  if (record.status !== 'running') return manual;
  const fallback = record.timeline?.findLast((t) => t.kind === 'dead-mans-switch');
  const heldByIt = lock?.holder.deploymentId === record.id && lock.holder.pid === record.by.pid;
  const lastHeard = heldByIt ? lock.heartbeat : fallback?.kind === 'dead-mans-switch' ? fallback.lastHeard : record.updatedAt;
  const step = record.inFlight ?? { index: record.stepIndex };
  const h = record.by;
  const died =
    `the deploy's process (pid ${h.pid} on ${h.host}${h.command ? `, \`zdd ${h.command}\`` : ''}) died during step ${Math.min(step.index + 1, record.plan.length)}/${record.plan.length}` +
    `${heldByIt && lock.staleReason ? ` (${lock.staleReason})` : ''}, last heard at ${lastHeard}`;
  const restored = fallback?.kind === 'dead-mans-switch' ? `; ${fallback.watchdog ?? FIRST_WATCHDOG.name} put 100% back on ${fallback.restored} at ${fallback.at}` : '';
  return `${died}${restored}; then a ${manual}`;
}
