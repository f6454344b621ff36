import type { FlagStep, Step } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';

/** Pure planners for flag ramps: steps are data, as traffic shifts are. */

export const DEFAULT_RELEASE_STEPS = [10, 50, 100];
export const DEFAULT_RELEASE_PAUSE_MS = 5 * 60_000;

export interface FlagRampOptions {
  /** Rollout percentages in order. */
  steps: number[];
  /** Bake after each step; none after a final 100%. */
  pauseMs: number;
  /** Gates that run during every bake. */
  analysis: string[];
}

/** `flag → p1%, bake, flag → p2%, bake, …`; the bake after a final 100% is left out, as a canary does. */
export function flagRampSteps(flag: string, opts: FlagRampOptions): Step[] {
  const steps: Step[] = [];
  opts.steps.forEach((percent, i) => {
    steps.push({ kind: 'flag', flag, action: 'rollout', percent });
    const last = i === opts.steps.length - 1;
    if (opts.pauseMs > 0 && !(last && percent === 100)) {
      steps.push({ kind: 'pause', durationMs: opts.pauseMs, ...(opts.analysis.length ? { analysis: opts.analysis } : {}) });
    }
  });
  return steps;
}

/** Flag names a plan touches, in order of first use. */
export function flagsOf(steps: Step[]): string[] {
  return [...new Set(steps.filter((s): s is FlagStep => s.kind === 'flag').map((s) => s.flag))];
}

/**
 * The first steps of every rollback: each flag the deploy changed goes back to its state before the
 * deploy (newest first), before any traffic moves. Flags never changed need nothing.
 */
export function flagRestoreSteps(record: DeploymentRecord): Step[] {
  const touched = [...flagsOf(record.plan), ...Object.keys(record.flags ?? {})];
  return [...new Set(touched)]
    .filter((f) => record.flags?.[f])
    .reverse()
    .map((flag) => ({ kind: 'flag', flag, action: 'restore' }) as Step);
}
