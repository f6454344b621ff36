import { describeStep } from '../../src/index.js';
import type { Role, RoleWeights, Step } from '../../src/index.js';

/** What production looks like to the simulator: the facts the promises are about. */
export interface WorldState {
  hasStable: boolean;
  weights: RoleWeights;
  replicas: RoleWeights;
  healthy: Role[];
  testRoute: Role | null;
  /** Roles whose processes were stopped by a retire (without afterMs). */
  retired: Role[];
  /** Role a retire with afterMs is keeping alive. */
  kept: Role | null;
}

export function initialWorld(stableReplicas: number | null): WorldState {
  const hasStable = stableReplicas !== null;
  return {
    hasStable,
    weights: { stable: hasStable ? 100 : 0, candidate: 0 },
    replicas: { stable: stableReplicas ?? 0, candidate: 0 },
    healthy: hasStable ? ['stable'] : [],
    testRoute: null,
    retired: [],
    kept: null,
  };
}

export class PlanViolation extends Error {}

/**
 * Applies steps the way the engine does, but strictly: any step that would break a promise (traffic
 * or test traffic to a revision without healthy instances, a retire or a scale to 0 of a revision
 * that still has weight, weights that do not sum to 100) throws PlanViolation naming the step.
 */
export function applyStep(world: WorldState, step: Step, index: number, opts: { phase: 'deploy' | 'rollback' }): WorldState {
  const w: WorldState = structuredClone(world);
  const fail = (why: string): never => {
    throw new PlanViolation(`step ${index + 1} (${describeStep(step)}): ${why}`);
  };
  const serving = (role: Role) => (role === 'stable' ? w.hasStable : true) && w.replicas[role] > 0 && w.healthy.includes(role) && !w.retired.includes(role);
  switch (step.kind) {
    case 'provision':
      if (step.role === 'stable' && !w.hasStable) fail('there is no stable revision');
      if (step.replicas < 1) fail('provisions no instance');
      w.replicas[step.role] = step.replicas;
      w.retired = w.retired.filter((r) => r !== step.role);
      if (!w.healthy.includes(step.role)) w.healthy.push(step.role);
      return w;
    case 'scale':
      if (step.role === 'stable' && !w.hasStable) fail('there is no stable revision');
      if (w.retired.includes(step.role)) fail(`${step.role} was retired: scale cannot bring its processes back`);
      if (step.role === 'candidate' && w.replicas.candidate === 0 && !w.healthy.includes('candidate')) fail('candidate was never provisioned');
      if (step.replicas === 0 && w.weights[step.role] > 0) fail(`${step.role} still has ${w.weights[step.role]}% of traffic`);
      w.replicas[step.role] = step.replicas;
      if (step.replicas > 0 && !w.healthy.includes(step.role)) w.healthy.push(step.role);
      return w;
    case 'testRoute':
      if (step.role && !serving(step.role)) fail(`${step.role} has no healthy instances`);
      w.testRoute = step.role;
      return w;
    case 'shiftTraffic': {
      const { stable, candidate } = step.weights;
      const total = stable + candidate;
      const allowedEmpty = opts.phase === 'rollback' && !w.hasStable && total === 0;
      if (total !== 100 && !allowedEmpty) fail(`weights sum to ${total}`);
      for (const role of ['stable', 'candidate'] as const) {
        if (step.weights[role] < 0 || step.weights[role] > 100 || !Number.isInteger(step.weights[role])) fail(`${role} weight ${step.weights[role]} is not 0–100`);
        if (step.weights[role] > 0 && !serving(role)) fail(`${role} gets ${step.weights[role]}% but has no healthy instances`);
      }
      w.weights = { ...step.weights };
      return w;
    }
    case 'gate':
    case 'hook':
    case 'flag':
      return w;
    case 'migration':
      if (opts.phase === 'rollback') fail('a rollback never runs a migration');
      if (step.phase === 'expand' && (w.weights.candidate > 0 || w.testRoute === 'candidate')) fail('the candidate already gets traffic before the expand migration');
      if (step.phase === 'contract' && !step.manual && w.hasStable && !w.retired.includes('stable')) fail('the old revision still runs when the contract migration would drop what it needs');
      return w;
    case 'pause':
      if (opts.phase === 'rollback' && step.durationMs === undefined) fail('a rollback cannot wait for zdd promote');
      return w;
    case 'retire':
      if (step.role === 'stable' && !w.hasStable) fail('there is no stable revision');
      if (w.weights[step.role] > 0) fail(`${step.role} still has ${w.weights[step.role]}% of traffic`);
      if (w.testRoute === step.role) fail(`the test route still points at ${step.role}`);
      if (step.afterMs) {
        w.kept = step.role;
        return w;
      }
      w.retired.push(step.role);
      w.replicas[step.role] = 0;
      w.healthy = w.healthy.filter((r) => r !== step.role);
      return w;
  }
}

/** Every state along a plan: `states[i]` is the world before step i, the last one after all steps. */
export function simulate(start: WorldState, steps: Step[], opts: { phase: 'deploy' | 'rollback' }): WorldState[] {
  const states = [start];
  steps.forEach((step, i) => states.push(applyStep(states[i], step, i, opts)));
  return states;
}
