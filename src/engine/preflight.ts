import { ZddError, errorMessage } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { ProviderSnapshot } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { nonZero } from '../core/weights.js';
import { findDrift, writtenWeights, type DriftFinding } from './drift.js';
import { nowIso, type EngineDeps } from './engine-deps.js';

/**
 * Before a deploy's first change: refuse (exit 2) to start from a state zdd did not leave —
 * weights changed outside zdd, a stable that is not healthy, a revision no record names. With
 * `force`, warn and return what was found, for the record.
 */
export async function checkDrift(deps: EngineDeps, force: boolean, live: ProviderSnapshot, records: Promise<DeploymentRecord[]>): Promise<{ at: string; findings: string[] } | undefined> {
  let findings;
  let history: DeploymentRecord[];
  try {
    history = await records;
    findings = findDrift(live, history);
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
    hint: driftHint(findings, history[0]),
  });
}

/** What each way out of a drift refusal does, with this service's revisions. */
export function driftHint(findings: DriftFinding[], last: DeploymentRecord | undefined): string {
  const ways: string[] = [];
  if (findings.some((f) => f.kind === 'weights') && last) {
    const wrote = Object.entries(nonZero(writtenWeights(last)));
    if (last.down) {
      ways.push('`zdd down` stops again what was started since zdd stopped everything');
    } else if (wrote.length) {
      ways.push(`\`zdd restore\` puts the router back to the weights zdd last wrote (${wrote.map(([id, w]) => `${id} ${w}%`).join(', ')}), same revisions, read back; --dry-run shows the change`);
      const previous = last.status === 'succeeded' ? last.stable?.id : undefined;
      if (previous && !wrote.some(([id]) => id === previous)) ways.push(`\`zdd rollback\` releases the previous revision, ${previous}, instead (it undoes the last deploy)`);
    }
  }
  if (findings.some((f) => f.kind === 'stable-unhealthy')) ways.push('a stable that is not whole: wait for its instances (or replace them), then deploy');
  ways.push('`zdd deploy --force` deploys from production as it is now (the record notes the drift)');
  return `\`zdd status\` shows what differs. Then choose: ${ways.join('; ')}.`;
}
