import type { CheckContext } from '../../core/checks.js';
import type { Role, Step } from '../../core/plan.js';
import type { RevisionSpec } from '../../core/provider.js';
import type { DeploymentRecord } from '../../core/state.js';
import { ZddError } from '../../core/errors.js';
import type { EngineDeps } from '../engine-deps.js';
import type { LockSession } from '../lock-session.js';
import type { addVerdict } from '../deployment-record.js';
import type { RunScope } from '../step-runner.js';

/** One check's result as the record keeps it. */
export type CheckResultOf = Parameters<typeof addVerdict>[1];

/**
 * What a step handler acts through: the run's dependencies and lock, the run it is part of, and the
 * moves every kind shares (checkpoint, wait for health, checks, ask a person). Lent by the StepRunner.
 */
export interface StepContext {
  deps: EngineDeps;
  lock: LockSession;
  scope: RunScope;
  /** Checkpoint the record (a rollback's checkpoint never stops it: see StepRunner.checkpoint). */
  checkpoint(): Promise<void>;
  /** Save the record now, whatever the phase (a pause that ends the command must be on disk). */
  save(): Promise<void>;
  /** After starting instances of `role`: not healthy (checkpointed so) until they all pass their health checks. */
  untilHealthy(role: Role, revisionId: string): Promise<void>;
  /** What a gate's checks see of this run; `signal` ends them. */
  checkContext(signal: AbortSignal): CheckContext;
  /** One check's result: onto the record, and told. */
  onCheckResult(result: CheckResultOf): void;
  /** What the kinds watch during a bake (a flag killed): rejects to end it; never resolves. Stops when `signal` aborts. */
  watchBake(signal: AbortSignal): Promise<never>;
  /** State a kind keeps across the steps of one runner (shift traffic: the weights it last read back). */
  memo<T>(kind: Step['kind'], init: () => T): T;
}

/** What a run left that traffic does not show, read back (a flag), so outcomes can say where it is. */
export interface LeftBehind {
  /** What it is, in messages: `flag`. */
  noun: string;
  /** Its name as messages quote it: `"new-checkout"`. */
  name: string;
  /** As last read back by this run, in words; undefined when the run never wrote it. */
  now?: string;
  /** As it was before the run, in words. */
  before: string;
}

/**
 * One step kind: runs its steps, writing onto the record what the record needs (the rest is
 * optional: what a kind adds before a run, during a bake, in a rollback and in outcomes).
 */
export interface StepHandler<S extends Step = Step> {
  /** Act on one step of this kind; throw to fail the step (a deploy rolls back, a rollback retries). */
  run(step: S, ctx: StepContext): Promise<void>;
  /**
   * In a rollback, a failure of this kind that must not stop the rollback: after `attempts` tries,
   * warn with `warning(error)` and go on; `failsRollback` ends the rollback as failed at the end
   * (the next `zdd rollback` starts again at this step). Without it: retried, then the rollback fails.
   */
  inRollback?: { attempts: number; warning(error: unknown): string; failsRollback?: boolean };
  /** Before anything changes, for a plan with steps of this kind (`steps` is the whole plan): refuse what cannot work. */
  preflight?(steps: Step[], deps: EngineDeps): Promise<void>;
  /** During a bake: rejects to end it at once (a flag killed meanwhile); never resolves otherwise. Stops when `signal` aborts. */
  watchBake?(record: DeploymentRecord, deps: EngineDeps, signal: AbortSignal): Promise<never>;
  /** What runs of this kind left that traffic does not show, for outcome messages. */
  leftBehind?(record: DeploymentRecord): LeftBehind[];
}

/** The revision a step acts on; a plan error when the run has none in that role. */
export function revisionOf(record: DeploymentRecord, role: Role): RevisionSpec {
  const rev = record[role];
  if (!rev) throw new ZddError('bad-plan', `Plan error: the step acts on ${role}, but this deploy has no ${role} revision`);
  return rev;
}
