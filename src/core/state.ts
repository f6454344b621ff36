import type { CheckResult } from './checks.js';
import type { LockHolderInfo } from './errors.js';
import type { Role, RoleWeights, Step } from './plan.js';
import type { RevisionSpec } from './provider.js';
import type { FlagState } from './flag-state.js';
import type { TimelineEntry } from './timeline.js';

export type DeploymentStatus =
  /** steps are being executed */
  | 'running'
  /** waiting at a pause step for `zdd promote` */
  | 'paused'
  /** candidate holds 100% and every step ran */
  | 'succeeded'
  /** the rollback plan is being executed */
  | 'rolling-back'
  /** production is back on stable */
  | 'rolled-back'
  /** the rollback itself failed: a person must look (exit 4) */
  | 'rollback-failed'
  /** a step failed and rollback was disabled (--no-rollback): production is left as the record says */
  | 'failed';

/** The journal of one deploy, checkpointed before and after every step. */
export interface DeploymentRecord {
  version: 1;
  id: string;
  service: string;
  env?: string;
  strategy: string;
  /** `restore`: a `zdd rollback` that puts a previous revision (candidate) back in place of stable. Absent: a deploy. */
  kind?: 'deploy' | 'restore';
  status: DeploymentStatus;
  stable: RevisionSpec | null;
  candidate: RevisionSpec;
  plan: Step[];
  /** Index of the next step to run: steps before it are done. */
  stepIndex: number;
  /** The step in flight when the record was written (a crash leaves it set). */
  inFlight?: { index: number; phase: 'deploy' | 'rollback'; startedAt: string };
  /** Last weights read back from the router. */
  weights: RoleWeights;
  /** Instances asked of the platform per role. */
  replicas: RoleWeights;
  /** Stable's instance count before the deploy began (what a rollback restores). */
  stableReplicasBefore: number;
  testRoute: Role | null;
  /** Roles that have passed their health checks at their current size (promise 1). */
  healthy: Role[];
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  by: LockHolderInfo;
  /** Last check results, newest last (bounded). */
  verdicts: CheckResult[];
  error?: { message: string; code: string; step?: number; hint?: string };
  rollback?: { reason: string; startedAt: string; plan: Step[]; stepIndex: number };
  /** Set when a human asked to promote a paused deploy. */
  promoteRequested?: string;
  /** Set when a human asked to abort (rollback) a running deploy. */
  abortRequested?: string;
  /**
   * The hook running now, as a process group (a command hook leads its own group). A command that
   * takes over after zdd was killed ends this group before it acts, so a hook never runs twice at once.
   */
  hookProcess?: { hook: string; pgid: number; host: string; startTime?: string; startedAt: string };
  /** A revision kept after the deploy (blue-green), to be retired when due. */
  kept?: { role: Role; revision: RevisionSpec; retireAt: string; retired?: boolean };
  /** Flags the deploy changed: each one's state before the first write (what rollback restores) and as last read back. */
  flags?: Record<string, { before: FlagState; last?: FlagState }>;
  /** What happened, step by step (filled from the events by the CLI's timeline recorder; `zdd report`). */
  timeline?: TimelineEntry[];
  /** `--force` started this deploy despite what preflight found (weights changed outside zdd, a sick stable, an unrecorded revision). */
  forced?: { at: string; findings: string[] };
  /** Timeline entries dropped to keep the record small (repeated passes of a long bake). */
  timelineOmitted?: number;
  /** `zdd down` stopped everything after this deploy, on purpose: production serving nothing is what zdd left, not drift. */
  down?: { at: string; by: LockHolderInfo };
  /** `zdd restore` put the router back to this record's weights after they were changed outside zdd (`from`: what it found). */
  restoredWritten?: { at: string; by: LockHolderInfo; from: Record<string, number> }[];
  /** Database migrations of this run (config `migrations`) and the schema version each revision needs (docs/migrations.md). */
  migrations?: MigrationsRecord;
}

/** What a run knows of its migrations: the rollback guard and `zdd status`/`history` read it. */
export interface MigrationsRecord {
  /** The schema version the candidate needs (config `migrations.schemaVersion`, or the expand command's `ZDD_SCHEMA_VERSION=<v>`). */
  schemaVersion?: string;
  /** The schema version stable needs, as its own deploy recorded it. */
  stableSchemaVersion?: string;
  expand?: MigrationRun;
  contract?: MigrationRun;
}

/**
 * One migration command, checkpointed before it starts and after it ends. `running` left in a
 * record means zdd died while it ran: it may have run in part or in full, and only a person can say.
 */
export interface MigrationRun {
  /** `<deployment id>-expand` / `-contract`: passed to the command as ZDD_MIGRATION_ID. */
  id: string;
  command: string;
  state: 'pending' | 'running' | 'done' | 'failed' | 'not-run';
  /** A contract that waits (`"30m after release"`, or a kept old revision): not before this time. */
  dueAt?: string;
  startedAt?: string;
  endedAt?: string;
  host?: string;
  pid?: number;
  error?: string;
  /** A person settled a migration zdd lost track of (`--migration-ran` / `--migration-not-run`). */
  settledBy?: string;
}

/** Stores deployment records. Writes are atomic: a reader sees the old or the new record, never half. */
export interface RecordStore {
  /** The newest record of the service, or null when it never deployed. */
  latest(service: string): Promise<DeploymentRecord | null>;
  /** Create or replace a record and make it the newest. */
  save(record: DeploymentRecord): Promise<void>;
  /** Records newest first, at most `limit`. */
  history(service: string, limit: number): Promise<DeploymentRecord[]>;
  /** Ask deploy `deploymentId` (run by another process) to abort or promote: stored apart from the record, which it never rewrites. */
  request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void>;
  /** The newest request of each kind made of deploy `deploymentId` (empty when none). */
  requests(service: string, deploymentId: string): Promise<DeploymentRequests>;
  /**
   * Optional: call `onRequest` soon after any request of the service is written, so that a running
   * deploy hears an abort at once instead of at its next poll. A hint only (it may fire for nothing,
   * or not at all): readers still poll. Returns the function that stops watching.
   */
  watchRequests?(service: string, onRequest: () => void): Promise<() => void>;
}

/** What another process may ask of a running deploy (`zdd abort`/`zdd rollback`/`zdd flag kill`, `zdd promote`). */
export type RequestKind = 'abort' | 'promote';

/** One request: when it was made and, for a promote, the step (the pause or bake) the requester saw. */
export interface DeploymentRequest {
  at: string;
  stepIndex?: number;
  /** Who asked, when not `zdd abort` itself: `the kill switch (zdd flag kill "x")`. */
  by?: string;
}

export type DeploymentRequests = Partial<Record<RequestKind, DeploymentRequest>>;

/**
 * A guard a provider runs outside zdd's process that acts for a deploy whose process died (the
 * local router's dead-man's switch puts stable back). Declared in the provider's capabilities; it
 * holds the deploy's lock for a moment while it acts (LockStore.fence), naming itself in the
 * holder's `watchdog`, so the engine and `zdd status` wait for it or name it without knowing which it is.
 */
export interface Watchdog {
  /** How it is named in messages: "the local router's dead-man's switch". */
  name: string;
  /** What it does while it holds a lock: "puts traffic back on stable". */
  action: string;
}

/**
 * The watchdog holding a lock, if its holder is one. Locks and records written before watchdogs
 * named themselves carry only the local router's command: read as that watchdog.
 */
export function lockWatchdog(holder: LockHolderInfo): Watchdog | undefined {
  if (holder.watchdog) return holder.watchdog;
  if (holder.command === "local router's dead-man's switch") return FIRST_WATCHDOG;
  return undefined;
}

/** The one watchdog there was before watchdogs named themselves: what old locks and records mean. */
export const FIRST_WATCHDOG: Watchdog = { name: "the local router's dead-man's switch", action: 'puts traffic back on stable' };

/** The lock as read from the store. */
export interface LockInfo {
  holder: LockHolderInfo;
  /** When the holder last said it is alive (ISO). */
  heartbeat: string;
  /** How long after the heartbeat the lock counts as stale (ms). */
  leaseMs: number;
  /**
   * Its holder's process is known to be gone (judged only from inside the holder's pid namespace),
   * or its lease ran out on one clock (the holder's heartbeat plus a margin, or the store's own clock).
   */
  stale: boolean;
  staleReason?: string;
}

/** A held lock. Every call is conditional on `token`: it never overwrites or deletes another holder's lock. */
export interface LockLease {
  /** The token written with the lock at acquisition (or take-over). */
  readonly token: string;
  /**
   * Keep the lock alive (long deploys call this from a timer, never two at once). Throws
   * LockLostError when the stored lock is missing or carries another token.
   */
  heartbeat(): Promise<void>;
  /** Release it if still ours (token matches); a lock held by someone else is left alone. Idempotent. */
  release(): Promise<void>;
}

/** One deploy per service at a time. */
export interface LockStore {
  /** Take the lock or throw LockHeldError (exit 3); waits up to `waitMs` polling every `pollMs`. */
  acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease>;
  /** Who holds it (with its token), and whether that looks stale; null when free. A damaged lock is a `state-corrupt` error naming it. */
  inspect(service: string): Promise<LockInfo | null>;
  /** Remove the lock whoever holds it, a damaged one too. Returns whether there was one. */
  forceRelease(service: string): Promise<boolean>;
  /**
   * Take over a stale lock held by `deploymentId` (resuming a crashed deploy), conditional on the
   * lock it read: of two concurrent take-overs exactly one wins, the other gets LockHeldError. A
   * live lock is never taken over.
   */
  takeOver?(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease>;
  /**
   * For a watchdog (`holder.watchdog`) about to act for deploy `deploymentId` whose process is
   * gone: take its stale lock, conditional on the lock read. Null when the lock is free, live (its
   * holder renewed first), another deploy's, or changed meanwhile. The old holder, should it wake
   * up, stops at its next heartbeat (LockLostError) before any change.
   */
  fence(service: string, deploymentId: string, holder: LockHolderInfo): Promise<LockFence | null>;
}

/** A dead deploy's lock held by a watchdog while it acts. */
export interface LockFence {
  /** Free the lock if the watchdog still holds it; `did` ("put traffic back on stable (…)") is told to the old holder where the store can keep it. */
  free(did: string): Promise<void>;
}

/** Records and lock behind one interface; file store by default, remote (S3) where the service lives in a cloud. */
export interface StateStore {
  readonly records: RecordStore;
  readonly lock: LockStore;
  /** Where it lives, for messages (`.zdd/` or `s3://bucket/prefix`). */
  readonly location: string;
}
