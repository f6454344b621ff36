import type { Clock } from '../core/clock.js';
import type { LockHolderInfo } from '../core/errors.js';
import type { DeploymentRecord, LockInfo, StateStore } from '../core/state.js';
import { holdsToken } from '../state/lock-holder.js';
import { isNotSettled } from './deployment-record.js';
import { requestOnRecord } from './remote-requests.js';

/**
 * The lock shows another live process running `record` (identity is host, pid and token, never the
 * pid alone: containers share pids): `zdd rollback` and `zdd abort` ask it to abort instead of acting.
 */
export function runByAnotherProcess(record: DeploymentRecord, lock: LockInfo | null): lock is LockInfo {
  return !!lock && !lock.stale && lock.holder.deploymentId === record.id && !holdsToken(lock.holder.token);
}

/** A deploy this command has asked to abort, and the process that runs it. */
export interface AbortAsked {
  deploymentId: string;
  holder: LockHolderInfo;
}

/**
 * The incident path of `zdd rollback` / `zdd abort`: when the newest record is a deploy (not a
 * restore) that another live process runs, ask it to abort now, before the engine, the provider and
 * the notifiers load; the engine then only follows it (Engine.rollback with `asked`). Anything else
 * (a settled record, a crashed or restoring run, no live holder) is left to the engine: undefined.
 * Reads the record and the lock exactly as the engine would; it changes nothing but the request.
 */
export async function askLiveDeployToAbort(store: StateStore, service: string, clock: Clock): Promise<AbortAsked | undefined> {
  const record = await store.records.latest(service);
  // A restore's kind is recorded; an older zdd's restore only by its strategy's name.
  if (!isNotSettled(record) || record.kind === 'restore' || record.strategy === 'restore-previous') return undefined;
  const lock = await store.lock.inspect(service);
  if (!runByAnotherProcess(record, lock)) return undefined;
  if (!(await requestOnRecord(store.records, service, record.id, 'abort', clock))) return undefined;
  return { deploymentId: record.id, holder: lock.holder };
}
