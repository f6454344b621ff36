import type { Step, StepKind } from '../../core/plan.js';
import type { DeploymentRecord } from '../../core/state.js';
import { flag } from '../../flags/flag-step-kind.js';
import type { EngineDeps } from '../engine-deps.js';
import { gate } from './gate.js';
import { hook } from './hook.js';
import { migration } from './migration.js';
import { pause } from './pause.js';
import { provision } from './provision.js';
import { retire } from './retire.js';
import { scale } from './scale.js';
import { shiftTraffic } from './shift-traffic.js';
import type { LeftBehind, StepHandler } from './step-kind.js';
import { testRoute } from './test-route.js';

/** The handler of each step kind: one line per kind (a kind in core/plan.ts without one here is a type error). */
export const STEP_HANDLERS: { [K in StepKind]: StepHandler<Extract<Step, { kind: K }>> } = {
  provision,
  scale,
  testRoute,
  shiftTraffic,
  gate,
  pause,
  hook,
  migration,
  flag,
  retire,
};

/** The handler of a step's kind. */
export function handlerOf(step: Step): StepHandler {
  return STEP_HANDLERS[step.kind] as StepHandler;
}

/** Before anything changes: each kind's preflight of the plan, for the kinds it has. */
export async function preflightSteps(steps: Step[], deps: EngineDeps): Promise<void> {
  const kinds = new Set(steps.map((s) => s.kind));
  for (const kind of kinds) await STEP_HANDLERS[kind].preflight?.(steps, deps);
}

/** During a bake: every kind's watch at once; rejects with the first that fires. */
export function watchBake(record: DeploymentRecord, deps: EngineDeps, signal: AbortSignal): Promise<never> {
  const watches = Object.values(STEP_HANDLERS).flatMap((h) => (h.watchBake ? [h.watchBake(record, deps, signal)] : []));
  return Promise.race([new Promise<never>(() => {}), ...watches]);
}

/** What the run left that traffic does not show (flags), for outcome messages. */
export function leftBehind(record: DeploymentRecord): LeftBehind[] {
  return Object.values(STEP_HANDLERS).flatMap((h) => h.leftBehind?.(record) ?? []);
}

export type { LeftBehind, StepContext, StepHandler } from './step-kind.js';
export { StoppedAtPause } from './pause.js';
export { revisionOf } from './step-kind.js';
