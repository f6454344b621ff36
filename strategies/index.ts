import type { Strategy } from '../src/index.js';
import { blueGreen } from './blue-green.js';
import { canary } from './canary.js';
import { linear } from './linear.js';
import { rolling } from './rolling.js';

/** The strategies `--strategy` knows without plugins, by name. Config plugins are looked up after these. */
export const BUILT_IN_STRATEGIES: Record<string, Strategy> = {
  canary,
  linear,
  'blue-green': blueGreen,
  rolling,
};

export { blueGreen, canary, linear, rolling };
export { rollbackPlan, firstDeployPlan } from './plan-builders.js';
