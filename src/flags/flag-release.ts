import type { RunWording } from '../core/strategy.js';
import type { DeploymentRecord } from '../core/state.js';
import type { Engine, Outcome } from '../engine/engine.js';
import { describeFlagState } from './flag-provider.js';
import { flagRampSteps, type FlagRampOptions } from './flag-plan.js';

/** The strategy name flag releases are recorded under (strategies/flag-release.ts plans their rollback). */
export const FLAG_RELEASE = 'flag-release';

/** `zdd release <flag>`: ramp one flag with bakes and analysis, no code or traffic change. */
export interface ReleaseRequest extends FlagRampOptions {
  flag: string;
  lockWaitMs: number;
}

/**
 * `zdd release <flag>`: a run like a deploy (same lock, record, abort, promote, rollback and exit
 * codes) whose plan only sets the flag, step by step, with bakes.
 */
export function releaseFlag(engine: Engine, req: ReleaseRequest): Promise<Outcome> {
  return engine.runInPlace({ strategy: FLAG_RELEASE, steps: flagRampSteps(req.flag, req), lockWaitMs: req.lockWaitMs });
}

/** `flag "a" off, flag "b" on, 5%`: each flag a run changed, as its rollback last read it back. */
function flagsAsRead(record: DeploymentRecord): string {
  return Object.entries(record.flags ?? {})
    .map(([f, e]) => `flag "${f}" ${e.last ? describeFlagState(e.last) : 'unchanged'}`)
    .join(', ');
}

/** ` Flag "x": off (rollout 20% kept) (read back).` for each flag the run changed. */
function flagsNow(record: DeploymentRecord): string {
  return Object.entries(record.flags ?? {})
    .map(([f, e]) => ` Flag "${f}": ${e.last ? describeFlagState(e.last) : 'unchanged'} (read back).`)
    .join('');
}

/** A release never moved traffic or a revision: where its flags are is the whole answer. */
export const flagReleaseWording: RunWording = {
  noun: 'Release',
  run: 'flag release',
  subject: (record) => `Release of flag ${Object.keys(record.flags ?? {}).map((f) => `"${f}"`).join(', ') || '(none written)'}`,
  succeeded: (record) => {
    const flags = Object.entries(record.flags ?? {}).map(([f, e]) => `"${f}": ${e.last ? describeFlagState(e.last) : 'done'}`);
    return `Released flag ${flags.join(', ') || 'done'} (read back).`;
  },
  whereAfterRollback: (record) => `Traffic was not changed.${flagsNow(record) || ' No flag had been written.'}`,
  rolledBack: (record) => `Rolled back release ${record.id}: ${flagsAsRead(record) || 'no flag had been written'} (as before the release, read back).`,
  aborted: (record) => `Release ${record.id} aborted and rolled back: ${flagsAsRead(record) || 'no flag had been written'} (as before the release, read back).`,
  rollbackRestores: () => 'its flags as before it',
};
