import type { Step } from '../core/plan.js';
import type { Strategy } from '../core/strategy.js';
import { contract } from './commands/contract.js';
import { deploy, plan, runInPlace, type DeployRequest, type InPlaceRequest } from './commands/deploy.js';
import { promote } from './commands/promote.js';
import { restoreWritten } from './commands/restore-written.js';
import { retireDue } from './commands/retire.js';
import { rollback } from './commands/rollback.js';
import type { EngineDeps } from './engine-deps.js';
import type { AbortAsked } from './live-abort.js';
import type { MigrationAnswer } from './migrations.js';
import type { Outcome } from './outcomes.js';
import type { CurrentState } from './planning.js';
import { RunKit } from './run-kit.js';

export type { EngineDeps } from './engine-deps.js';
export { DEFAULT_DRAIN_MS, DEFAULT_HEALTH_TIMEOUT_MS } from './engine-deps.js';
export type { Outcome } from './outcomes.js';
export type { CurrentState } from './planning.js';
export type { DeployRequest, InPlaceRequest } from './commands/deploy.js';

/**
 * zdd's commands that act on production: deploy, promote, rollback (and abort), restore, retire,
 * contract, plan. Each lives in commands/ (one file per command or pair), takes the lock and runs
 * its plan through the RunKit (run-kit.ts); planning, failure handling and messages live in their
 * own modules beside this one.
 */
export class Engine {
  private readonly kit: RunKit;

  constructor(deps: EngineDeps) {
    this.kit = new RunKit(deps);
  }

  /** Work out the plan deploy would run, changing nothing. */
  plan(req: Pick<DeployRequest, 'candidate' | 'strategy'>): Promise<{ strategy: Strategy; steps: Step[]; current: CurrentState }> {
    return plan(this.kit, req);
  }

  /** `zdd deploy`: preflight, plan, run; on failure roll back (commands/deploy.ts). */
  deploy(req: DeployRequest): Promise<Outcome> {
    return deploy(this.kit, req);
  }

  /** A run that changes no revision and no traffic (`zdd release`: flags/flag-release.ts). */
  runInPlace(req: InPlaceRequest): Promise<Outcome> {
    return runInPlace(this.kit, req);
  }

  /** `zdd promote`: tell a live paused run to go on, or continue a dead one from its checkpoint (commands/promote.ts). */
  promote(opts: { stopAtPause?: boolean; migrationAnswer?: MigrationAnswer } = {}): Promise<Outcome> {
    return promote(this.kit, opts);
  }

  /** `zdd rollback` / `zdd abort`: abort a run in progress, or restore the revision before a finished one (commands/rollback.ts). */
  rollback(opts: { abortOnly: boolean; lockWaitMs: number; to?: string; asked?: AbortAsked; force?: boolean; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
    return rollback(this.kit, opts);
  }

  /** `zdd restore`: the router back to the weights the last finished run wrote (commands/restore-written.ts). */
  restoreWritten(opts: { dryRun?: boolean; lockWaitMs: number }): Promise<Outcome> {
    return restoreWritten(this.kit, opts);
  }

  /** `zdd retire`: retire revisions whose keep time has passed (commands/retire.ts). */
  retireDue(opts: { now?: boolean; lockWaitMs: number }): Promise<Outcome> {
    return retireDue(this.kit, opts);
  }

  /** `zdd contract`: the pending contract migration of the last release (commands/contract.ts). */
  contract(opts: { lockWaitMs: number; migrationAnswer?: MigrationAnswer }): Promise<Outcome> {
    return contract(this.kit, opts);
  }
}
