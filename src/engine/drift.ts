import type { ProviderSnapshot } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import { differingRevisions, nonZero } from '../core/weights.js';

/** Something about production that zdd did not do and would not start a deploy from. */
export interface DriftFinding {
  kind: 'weights' | 'stable-unhealthy' | 'unrecorded';
  message: string;
}

/**
 * Compares what the provider says now with the records (newest first): traffic that differs from
 * what zdd last wrote, a stable that is not fully healthy, a revision that no record names.
 * Pure: the engine refuses on findings (unless --force), `zdd status` shows them.
 */
export function findDrift(live: ProviderSnapshot, history: DeploymentRecord[]): DriftFinding[] {
  const findings: DriftFinding[] = [];
  const last = history[0];
  const liveWeights = nonZero(live.weights);

  if (last && (last.status === 'succeeded' || last.status === 'rolled-back')) {
    const wrote = nonZero(writtenWeights(last));
    const differ = differingRevisions(wrote, liveWeights);
    if (differ.length) {
      const detail = differ.map((id) => `${id} has ${liveWeights[id] ?? 0}% (zdd wrote ${wrote[id] ?? 0}%, ${signed((liveWeights[id] ?? 0) - (wrote[id] ?? 0))} points)`).join(', ');
      const what = last.down ? `what zdd left (\`zdd down\` stopped everything after deploy ${last.id})` : `what zdd last wrote (deploy ${last.id})`;
      findings.push({ kind: 'weights', message: `Traffic differs from ${what}: ${detail}. Someone, or Terraform/CDK, changed the router or listener.` });
    }
  }

  const top = Object.entries(liveWeights).sort((a, b) => b[1] - a[1])[0];
  const stable = top && live.revisions.find((r) => r.revision.id === top[0]);
  if (stable && stable.healthy !== undefined && (stable.healthy === 0 || stable.healthy < stable.desired)) {
    findings.push({ kind: 'stable-unhealthy', message: `Stable ${stable.revision.id} (${top[1]}% of traffic) is not healthy: ${stable.healthy} of ${stable.desired} instances healthy. A canary started from a sick stable hides the signal.` });
  }

  if (history.length) {
    const named = new Set(history.flatMap((r) => [r.candidate.id, r.stable?.id, r.kept && !r.kept.retired ? r.kept.revision.id : undefined]).filter((x): x is string => !!x));
    for (const r of live.revisions) {
      const running = r.desired > 0 || (r.healthy ?? 0) > 0 || (liveWeights[r.revision.id] ?? 0) > 0;
      if (running && !named.has(r.revision.id)) {
        findings.push({ kind: 'unrecorded', message: `Revision ${r.revision.id} runs (${r.healthy ?? r.desired} instance(s), ${liveWeights[r.revision.id] ?? 0}% of traffic) but no deploy record names it: it was started outside zdd.` });
      }
    }
  }
  return findings;
}

/** The weights by revision that a finished record says zdd left production at (none after `zdd down`). */
export function writtenWeights(r: DeploymentRecord): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.down) return out;
  if (r.stable) out[r.stable.id] = (out[r.stable.id] ?? 0) + r.weights.stable;
  out[r.candidate.id] = (out[r.candidate.id] ?? 0) + r.weights.candidate;
  return out;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
