import { errorMessage } from '../../../core/errors.js';
import type { ProviderSnapshot } from '../../../core/provider.js';
import type { DeploymentRecord, LockInfo, StateStore } from '../../../core/state.js';
import { isUnfinished } from '../../../engine/deployment-record.js';
import { findDrift } from '../../../engine/drift.js';
import { schemaVersions } from '../../../engine/migrations.js';
import type { FlagProvider, FlagState } from '../../../flags/flag-provider.js';
import { liveRevision, type LiveRevision } from '../../../report/live-since.js';
import type { CommandContext } from '../../context.js';
import { deployProcess } from './judge.js';

/** What `zdd status` gathers: what the provider, the state store and the flag service say now. */
export interface StatusReport {
  type: 'status';
  service: string;
  provider: string;
  /** Live, from the provider (the truth), or the error that prevented reading it. */
  live: ProviderSnapshot | { error: string };
  deployment: DeploymentRecord | null;
  lock: LockInfo | null;
  /** What serves now, since when, who deployed it and from which CI run. */
  liveRevision?: LiveRevision | null;
  /** What differs from what zdd left (a deploy would refuse to start without --force). */
  drift?: string[];
  /** For a deploy in progress: whether a live zdd process holds its lock (runs it, or waits at its pause), and if not, why. */
  deployProcess?: { alive: boolean; reason: string };
  /** The flags the last run changed, live from the flag service (the record only says what was last read back). */
  flags?: LiveFlag[];
  /** The schema version each revision needs, as the records say (config `migrations`). */
  schemaVersions?: Record<string, string>;
}

export type LiveFlag = { flag: string; live: FlagState } | { flag: string; error: string };

/** Each flag the record names, read from the flag service now: a run killed between a flag write and its checkpoint leaves the record behind. */
async function liveFlags(flags: FlagProvider | undefined, deployment: DeploymentRecord | null): Promise<LiveFlag[] | undefined> {
  const names = Object.keys(deployment?.flags ?? {});
  if (!names.length) return undefined;
  if (!flags) return names.map((flag) => ({ flag, error: 'no flag service is configured (config `flags`)' }));
  return Promise.all(names.map((flag) => flags.get(flag).then((live) => ({ flag, live }), (e: unknown) => ({ flag, error: errorMessage(e) }))));
}

/** Live state, record and lock, read so that a record and the lock that went with it are judged together. */
export async function readStatus(ctx: CommandContext): Promise<StatusReport> {
  const service = ctx.config.service;
  // Record, then lock, then record again: a deploy takes its lock before its first record and
  // writes its last record before it frees the lock, so a record that is the same on both sides
  // of the lock read is judged against the lock that really went with it.
  const recordAndLock = async () => {
    const before = await ctx.store.records.latest(service);
    const lock = await ctx.store.lock.inspect(service);
    const after = await ctx.store.records.latest(service);
    return { deployment: after, lock, settled: before?.id === after?.id && before?.updatedAt === after?.updatedAt };
  };
  const [live, { deployment, lock, settled }, history] = await Promise.all([
    ctx.provider.snapshot().catch((e) => ({ error: errorMessage(e) })),
    recordAndLock(),
    ctx.store.records.history(service, 50).catch(() => []),
  ]);
  const drift = 'error' in live || isUnfinished(deployment) ? [] : findDrift(live, history).map((f) => f.message);
  const flags = await liveFlags(ctx.flags, deployment);
  const schemas = schemaVersions(history);
  const report: StatusReport = {
    type: 'status', service, provider: ctx.provider.name, live, deployment, lock, liveRevision: liveRevision(live, history), drift,
    ...(flags ? { flags } : {}),
    ...(Object.keys(schemas).length ? { schemaVersions: schemas } : {}),
  };
  if (isUnfinished(deployment)) report.deployProcess = settled ? deployProcess(deployment, lock) : { alive: true, reason: 'its record changed while it was read' };
  return report;
}

/** The record alone, when the provider could not be started (credentials, a missing resource): `error` says why. */
export async function readRecordOnly(store: StateStore, service: string, provider: string, error: string): Promise<StatusReport> {
  const [deployment, lock, history] = await Promise.all([store.records.latest(service), store.lock.inspect(service), store.records.history(service, 50).catch(() => [])]);
  const live = { error };
  return { type: 'status', service, provider, live, deployment, lock, liveRevision: liveRevision(live, history), drift: [] };
}
