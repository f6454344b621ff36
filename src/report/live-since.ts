import type { ProviderSnapshot } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';

/** What serves production and the deploy that put it there: "since when, who, from which CI run". */
export interface LiveRevision {
  revision: string;
  weight?: number;
  /** The deploy that made it live, or absent when no record names it (deployed outside zdd?). */
  since?: string;
  deploymentId?: string;
  who?: string;
  ciRunUrl?: string;
  strategy?: string;
}

/**
 * The revision with the most traffic (from the provider, else from the last record) and the newest
 * finished deploy that made it live. `history` is newest first.
 */
export function liveRevision(live: ProviderSnapshot | { error: string }, history: DeploymentRecord[]): LiveRevision | null {
  let revision: string | undefined;
  let weight: number | undefined;
  if (!('error' in live)) {
    const top = Object.entries(live.weights).sort((a, b) => b[1] - a[1])[0];
    if (top && top[1] > 0) [revision, weight] = top;
  } else {
    const last = history[0];
    if (last) revision = last.status === 'succeeded' ? last.candidate.id : last.stable?.id ?? undefined;
  }
  if (!revision) return null;
  // A flag release names the serving revision as its candidate but deployed nothing.
  const made = history.find((r) => r.status === 'succeeded' && r.candidate.id === revision && r.strategy !== 'flag-release');
  if (!made) return { revision, ...(weight !== undefined ? { weight } : {}) };
  return {
    revision,
    ...(weight !== undefined ? { weight } : {}),
    since: made.finishedAt ?? made.updatedAt,
    deploymentId: made.id,
    who: made.by.who,
    ...(made.by.ciRunUrl ? { ciRunUrl: made.by.ciRunUrl } : {}),
    strategy: made.strategy,
  };
}

export function describeLive(l: LiveRevision | null): string {
  if (!l) return '  live: no revision serves traffic';
  const head = `  live: ${l.revision}${l.weight !== undefined && l.weight < 100 ? ` (${l.weight}%)` : ''}`;
  if (!l.since) return `${head}, deployed outside zdd or before the records kept here (no deploy record names it)`;
  return `${head} since ${l.since}, deployed by ${l.who} with ${l.strategy} (deploy ${l.deploymentId})${l.ciRunUrl ? ` from CI run ${l.ciRunUrl}` : ''}`;
}
