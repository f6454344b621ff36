/**
 * Plans are plain data: the ordered steps a strategy produces. The engine executes them; `zdd plan`
 * prints them. Revisions are named by role, never by colour: a strategy that needs blue/green talks
 * about slots inside its own module only.
 */

/** Which revision a step acts on. */
export type Role = 'stable' | 'candidate';

/** Percent of production traffic per role, 0–100, summing to 100. */
export interface RoleWeights {
  stable: number;
  candidate: number;
}

/** Start the candidate with `replicas` instances and wait until every one passes its health check. */
export interface ProvisionStep {
  kind: 'provision';
  role: Role;
  replicas: number;
}

/** Change the instance count of a revision; growing waits for the new instances to be healthy. */
export interface ScaleStep {
  kind: 'scale';
  role: Role;
  replicas: number;
}

/** Route requests that carry the test header to `role` (or stop routing them when null). */
export interface TestRouteStep {
  kind: 'testRoute';
  role: Role | null;
}

/** Set production weights in one router call, then read them back. */
export interface ShiftTrafficStep {
  kind: 'shiftTraffic';
  weights: RoleWeights;
}

/** Run the checks of a named gate (from config `gates`) once to completion; any failure fails the step. */
export interface GateStep {
  kind: 'gate';
  gate: string;
}

/**
 * Wait. With `durationMs`, a bake: the gates listed in `analysis` run during the wait and a failed
 * check ends it at once. Without `durationMs`, wait for `zdd promote` (or `zdd abort`).
 */
export interface PauseStep {
  kind: 'pause';
  durationMs?: number;
  analysis?: string[];
}

/** Run a user hook at a lifecycle point (config `hooks`). */
export interface HookStep {
  kind: 'hook';
  hook: HookPoint;
}

/**
 * Stop a revision: the engine checks its weight is 0, the provider waits its drain time, then
 * stops it. `afterMs` delays the retirement (blue-green keeps the previous stable for a while so
 * rollback stays instant); the deploy finishes and a later command retires it when due.
 */
export interface RetireStep {
  kind: 'retire';
  role: Role;
  afterMs?: number;
}

/**
 * Set a feature flag on the flag service (config `flags`), then read it back: ramp it to `percent`
 * of the audience, turn it off, or put it back exactly as it was before the deploy touched it.
 */
export interface FlagStep {
  kind: 'flag';
  flag: string;
  action: 'rollout' | 'off' | 'restore';
  /** Percent of the audience, for `rollout`. */
  percent?: number;
}

/**
 * Run the configured database migration of a phase (config `migrations`, docs/migrations.md).
 * `expand` comes before the candidate gets any traffic; `contract` after the old revision is
 * retired, `afterMs` later, or (`manual`) only marked pending for `zdd contract`. The record
 * checkpoints its start and end under an id: a migration that may have run is never run again unasked.
 */
export interface MigrationStep {
  kind: 'migration';
  phase: 'expand' | 'contract';
  afterMs?: number;
  manual?: boolean;
}

export type Step = ProvisionStep | ScaleStep | TestRouteStep | ShiftTrafficStep | GateStep | PauseStep | HookStep | RetireStep | FlagStep | MigrationStep;
export type StepKind = Step['kind'];

export const HOOK_POINTS = ['preDeploy', 'postProvision', 'preShift', 'postShift', 'postDeploy', 'onRollback'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

export interface Plan {
  strategy: string;
  steps: Step[];
}

/** One line a person can read, e.g. `shift traffic: stable 80% | candidate 20%`. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'provision':
      return `provision ${step.role} (${step.replicas} instance${step.replicas === 1 ? '' : 's'}) and wait until healthy`;
    case 'scale':
      return `scale ${step.role} to ${step.replicas} instance${step.replicas === 1 ? '' : 's'}`;
    case 'testRoute':
      return step.role ? `route test traffic (header) to ${step.role}` : 'remove test route';
    case 'shiftTraffic':
      return `shift traffic: stable ${step.weights.stable}% | candidate ${step.weights.candidate}%`;
    case 'gate':
      return `gate "${step.gate}"`;
    case 'pause':
      if (step.durationMs === undefined) return 'pause until `zdd promote`';
      return `bake ${formatDuration(step.durationMs)}${step.analysis?.length ? ` with analysis (${step.analysis.join(', ')})` : ''}`;
    case 'hook':
      return `hook ${step.hook}`;
    case 'retire':
      return step.afterMs ? `retire ${step.role} after ${formatDuration(step.afterMs)}` : `retire ${step.role} (drain, then stop)`;
    case 'flag':
      if (step.action === 'rollout') return `flag "${step.flag}": on for ${step.percent ?? 0}%`;
      return step.action === 'off' ? `flag "${step.flag}": off` : `flag "${step.flag}": back to its state before the release`;
    case 'migration':
      if (step.phase === 'expand') return 'migration expand (before the candidate gets any traffic)';
      if (step.manual) return 'migration contract: pending, run later by `zdd contract`';
      return step.afterMs ? `migration contract ${formatDuration(step.afterMs)} after release` : 'migration contract (old revision retired)';
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rs = Math.round(s % 60);
  if (m < 60) return rs ? `${m}m${rs}s` : `${m}m`;
  const h = Math.floor(m / 60);
  const rm = m % 60;
  return rm ? `${h}h${rm}m` : `${h}h`;
}
