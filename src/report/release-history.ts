import { formatDuration } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';
import { describeFlagState } from '../flags/flag-provider.js';

/** One line of `zdd history`. */
export interface Release {
  id: string;
  revision: string;
  image?: string;
  /** What ran before it (the revision a rollback of it restores). */
  previous: string | null;
  strategy: string;
  result: DeploymentRecord['status'];
  who: string;
  host: string;
  ciRunUrl?: string;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  reason?: string;
  /** Started with --force despite preflight findings. */
  forced?: boolean;
  /** Each flag the run changed: before it, and as last read back (`off` → `on, 100%`). */
  flags?: { flag: string; before: string; after: string }[];
  /** The schema version the revision needs, and the state of the release's contract migration (config `migrations`). */
  schemaVersion?: string;
  contract?: string;
}

export function toRelease(r: DeploymentRecord): Release {
  return {
    id: r.id,
    revision: r.candidate.id,
    ...(r.candidate.image ? { image: r.candidate.image } : {}),
    previous: r.stable?.id ?? null,
    strategy: r.strategy,
    result: r.status,
    who: r.by.who,
    host: r.by.host,
    ...(r.by.ciRunUrl ? { ciRunUrl: r.by.ciRunUrl } : {}),
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt, durationMs: Date.parse(r.finishedAt) - Date.parse(r.startedAt) } : {}),
    ...(r.rollback ? { reason: r.rollback.reason } : r.error ? { reason: r.error.message } : {}),
    ...(r.forced ? { forced: true } : {}),
    ...(r.flags && Object.keys(r.flags).length
      ? { flags: Object.entries(r.flags).map(([flag, e]) => ({ flag, before: describeFlagState(e.before), after: e.last ? describeFlagState(e.last) : 'unchanged' })) }
      : {}),
    ...(r.migrations?.schemaVersion ? { schemaVersion: r.migrations.schemaVersion } : {}),
    ...(r.migrations?.contract ? { contract: r.migrations.contract.state } : {}),
  };
}

/** The REVISION cell: a flag release changed no revision, so it names its flags instead. */
function whatChanged(r: Release): string {
  const flags = (r.flags ?? []).map((f) => `flag ${f.flag}: ${f.before} → ${f.after}`).join('; ');
  if (r.strategy === 'flag-release') return cut(flags || 'flag (none written)', 48);
  return flags ? `${r.revision} + ${cut(flags, 40)}` : r.revision;
}

/** A plain-text table, newest first; long cells are cut, the JSON has them whole. */
export function renderHistory(service: string, releases: Release[]): string {
  if (!releases.length) return `No deploys of ${service} recorded yet.\n`;
  // The SCHEMA column only once some release recorded one (config `migrations`).
  const schema = releases.some((r) => r.schemaVersion || r.contract);
  const rows = releases.map((r) => [
    r.id,
    whatChanged(r),
    ...(schema ? [`${r.schemaVersion ?? '—'}${r.contract ? ` (contract ${r.contract})` : ''}`] : []),
    cut(r.image ?? '—', 32),
    r.strategy,
    r.forced ? `${r.result} (forced)` : r.result,
    cut(r.who, 24),
    r.startedAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
    r.durationMs !== undefined ? formatDuration(r.durationMs) : '—',
    r.ciRunUrl ?? '',
  ]);
  const head = ['ID', 'REVISION', ...(schema ? ['SCHEMA'] : []), 'IMAGE', 'STRATEGY', 'RESULT', 'WHO', 'WHEN (UTC)', 'TOOK', 'CI RUN'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
