import { UsageError, flagRestoreSteps } from '../src/index.js';
import type { Strategy } from '../src/index.js';

/**
 * What `zdd release <flag>` records: a flag ramp with no code or traffic change (the engine builds
 * the ramp from the command's flags). Its rollback only puts the flags back as they were before the
 * release. Not offered to `zdd deploy --strategy`; records name it so abort, rollback and promote
 * find it.
 */
export const flagRelease: Strategy<Record<string, never>> = {
  name: 'flag-release',
  description: 'Ramp a feature flag with bakes and analysis; no traffic change',
  requires: [],
  plan() {
    throw new UsageError('A flag release is started with `zdd release <flag>`, not `zdd deploy --strategy flag-release`');
  },
  rollback(input) {
    return { strategy: 'flag-release', steps: flagRestoreSteps(input.record) };
  },
};
