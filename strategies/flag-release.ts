import { FLAG_RELEASE, UsageError, flagReleaseWording, flagRestoreSteps } from '../src/index.js';
import type { Strategy } from '../src/index.js';

/**
 * What `zdd release <flag>` records: a flag ramp with no code or traffic change (the command builds
 * the ramp from its flags). Its rollback only puts the flags back as they were before the release,
 * also after it finished, and its outcomes speak of flags. Not offered to `zdd deploy --strategy`;
 * records name it so abort, rollback and promote find it.
 */
export const flagRelease: Strategy<Record<string, never>> = {
  name: FLAG_RELEASE,
  description: 'Ramp a feature flag with bakes and analysis; no traffic change',
  requires: [],
  plan() {
    throw new UsageError('A flag release is started with `zdd release <flag>`, not `zdd deploy --strategy flag-release`');
  },
  rollback(input) {
    return { strategy: FLAG_RELEASE, steps: flagRestoreSteps(input.record) };
  },
  undoneByOwnRollback: true,
  wording: flagReleaseWording,
};
