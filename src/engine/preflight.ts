import { ZddError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { ProviderSnapshot } from '../core/provider.js';
import { findDrift } from './drift.js';
import { nowIso, type EngineDeps } from './engine-deps.js';

/**
 * Before a deploy's first change: refuse (exit 2) to start from a state zdd did not leave —
 * weights changed outside zdd, a stable that is not healthy, a revision no record names. With
 * `force`, warn and return what was found, for the record.
 */
export async function checkDrift(deps: EngineDeps, force: boolean, live: ProviderSnapshot): Promise<{ at: string; findings: string[] } | undefined> {
  let findings;
  try {
    findings = findDrift(live, await deps.store.records.history(deps.config.service, 50));
  } catch (e) {
    // What cannot be read cannot be compared; the provider's own preflight has already passed.
    deps.events.emit({ type: 'warn', message: `Preflight could not read the records to compare production with: ${errorMessage(e)}` });
    return undefined;
  }
  if (!findings.length) return undefined;
  const lines = findings.map((f) => f.message);
  if (force) {
    for (const l of lines) deps.events.emit({ type: 'warn', message: `--force: deploying anyway: ${l}` });
    return { at: nowIso(deps), findings: lines };
  }
  throw new ZddError('preflight-drift', `Production is not in a state zdd would start a deploy from:\n${lines.map((l) => `  - ${l}`).join('\n')}\nNothing was changed.`, {
    exitCode: ExitCode.Usage,
    hint: '`zdd status` shows what differs. Then choose: `zdd restore` puts the router back to the weights zdd last wrote (same revisions; --dry-run shows the change); `zdd rollback` releases the previous revision instead (it undoes the last deploy); `zdd deploy --force` deploys from production as it is now (the record notes the drift).',
  });
}
