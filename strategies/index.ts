import type { Strategy } from '../src/index.js';
import { blueGreen } from './blue-green.js';
import { canary } from './canary.js';
import { linear } from './linear.js';
import { restorePrevious } from './restore-previous.js';
import { rolling } from './rolling.js';

/** The strategies `--strategy` knows without plugins, by name. Config plugins are looked up after these. */
export const BUILT_IN_STRATEGIES: Record<string, Strategy> = {
  canary,
  linear,
  'blue-green': blueGreen,
  rolling,
};

/**
 * Strategies that only records name: `zdd rollback`/`zdd promote` find them to resume an
 * interrupted run. `rollback` is how records written before 0.2 named a restore.
 */
export const RECORD_STRATEGIES: Record<string, Strategy> = {
  'restore-previous': restorePrevious,
  rollback: restorePrevious,
};

export { blueGreen, canary, linear, restorePrevious, rolling };
export { rollbackPlan, firstDeployPlan } from './plan-builders.js';
