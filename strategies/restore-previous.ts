import type { Strategy } from '../src/index.js';
import { hook, rollbackPlan } from './plan-builders.js';

/**
 * What `zdd rollback` runs after a finished deploy: put a previous revision (the planner's
 * candidate) back on 100% in one router call, then stop the revision that served (stable). When
 * the previous revision still runs (blue-green kept it), provisioning it finds it healthy at once.
 * Not offered to `zdd deploy --strategy`; records name it so that an interrupted restore resumes.
 */
export const restorePrevious: Strategy<Record<string, never>> = {
  name: 'restore-previous',
  description: 'Put a previous revision back on 100% of production in one traffic switch, then retire the one that served',
  requires: [],
  plan(input) {
    return {
      strategy: 'restore-previous',
      steps: [
        { kind: 'provision', role: 'candidate', replicas: input.replicas },
        { kind: 'shiftTraffic', weights: { stable: 0, candidate: 100 } },
        ...hook(input, 'onRollback'),
        { kind: 'retire', role: 'stable' },
      ],
    };
  },
  rollback(input) {
    return rollbackPlan('restore-previous', input);
  },
};
