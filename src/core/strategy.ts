import type { ZodType } from 'zod';
import type { HookPoint, Plan, Role, RoleWeights } from './plan.js';
import type { ProviderCapabilities, RevisionSpec } from './provider.js';
import type { DeploymentRecord } from './state.js';

/** What a strategy knows when it plans. No I/O: everything is here. */
export interface PlanInput<TOptions = Record<string, unknown>> {
  service: string;
  /** The revision serving production and its instance count; null on the first deploy. */
  stable: { revision: RevisionSpec; replicas: number } | null;
  candidate: RevisionSpec;
  /** Instances the candidate should end with. */
  replicas: number;
  /** This strategy's section of the config, already validated. */
  options: TOptions;
  capabilities: ProviderCapabilities;
  /** Hook points that have hooks configured (a plan includes only those). */
  hooks: HookPoint[];
  /** Gate names configured (`smoke` before traffic, `analysis` during bakes, any others by name). */
  gates: string[];
  /** How long a drained revision is given before it is stopped (ms). */
  drainMs: number;
}

/** What a strategy knows when it plans a rollback: the record of the deploy being undone. */
export interface RollbackInput {
  record: DeploymentRecord;
  hooks: HookPoint[];
  /** Instances stable should be restored to (its size before the deploy). */
  stableReplicas: number;
}

/**
 * A strategy plugin: pure planners. Built-ins use exactly this interface, so a strategy exported
 * from a config has the same power.
 */
export interface Strategy<TOptions = any> {
  readonly name: string;
  /** One line for `zdd plan` and help. */
  readonly description: string;
  /** Provider capabilities the plan needs; a mismatch is a config error before anything changes. */
  readonly requires: (keyof ProviderCapabilities)[];
  /**
   * The schema of `strategies.<name>` in the config (zod): validated, normalised (durations to ms)
   * and documented like the built-ins'. Without one, the section is passed to the strategy as written.
   */
  readonly optionsSchema?: ZodType;
  /**
   * Cross-field rules for this strategy's options, checked before anything changes. Each problem
   * has a path relative to the strategy's config section and a message that says the fix.
   */
  validate?(options: TOptions, ctx: { replicas: number; capabilities: ProviderCapabilities }): { path: string; message: string }[];
  /** The steps from the current state to the candidate holding 100%. */
  plan(input: PlanInput<TOptions>): Plan;
  /** The steps that put production back on stable, traffic first. */
  rollback(input: RollbackInput): Plan;
  /**
   * A finished run of this strategy is undone by its own rollback plan (a flag release puts its
   * flags back), not by restoring the revision before it.
   */
  readonly undoneByOwnRollback?: boolean;
  /** How outcomes speak of a run of this strategy; each part left out speaks of a deploy. */
  readonly wording?: RunWording;
}

/**
 * How outcome messages speak of a run of a strategy. The defaults (engine/outcomes.ts) speak of a
 * deploy whose candidate takes the traffic; a flag release speaks of its flags.
 */
export interface RunWording {
  /** What a run is called at the start of a sentence: `Release` (default `Deploy`). */
  noun?: string;
  /** What a run is, inside a sentence: `flag release` (default `deploy`). */
  run?: string;
  /** What failed or was interrupted: `Release of flag "x"` (default `Deploy of <candidate>`). */
  subject?(record: DeploymentRecord): string;
  /** A run that finished (default: the candidate serves 100% of production). */
  succeeded?(record: DeploymentRecord): string;
  /** After `Rolled back.` when the run failed: where production is now (default: on stable). */
  whereAfterRollback?(record: DeploymentRecord): string;
  /** `zdd rollback` finished rolling back a run (default: `Rolled back: production on stable …`). */
  rolledBack?(record: DeploymentRecord): string;
  /** Another process's run, aborted by `zdd abort` and rolled back (default: `Deploy … aborted and rolled back: …`). */
  aborted?(record: DeploymentRecord): string;
  /** What `zdd rollback` after the finished run puts back (default: the stable revision). */
  rollbackRestores?(record: DeploymentRecord): string;
}

export type { HookPoint, Plan, Role, RoleWeights };
