import type { Strategy } from '../src/index.js';
import { blueGreen } from './blue-green.js';
import { canary } from './canary.js';
import { flagRelease } from './flag-release.js';
import { hybrid } from './hybrid.js';
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

/** Strategies that also drive a flag service (config `flags`): offered to `--strategy` when one is configured. */
export const FLAG_STRATEGIES: Record<string, Strategy> = {
  hybrid,
};

/**
 * Strategies that only records name: `zdd rollback`/`zdd promote` find them to resume an
 * interrupted run. `rollback` is how records written before 0.2 named a restore.
 */
export const RECORD_STRATEGIES: Record<string, Strategy> = {
  'restore-previous': restorePrevious,
  rollback: restorePrevious,
  'flag-release': flagRelease,
};

export { blueGreen, canary, flagRelease, hybrid, linear, restorePrevious, rolling };
export { rollbackPlan, firstDeployPlan } from './plan-builders.js';
