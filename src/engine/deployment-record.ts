import { randomBytes } from 'node:crypto';
import type { CheckResult } from '../core/checks.js';
import type { LockHolderInfo } from '../core/errors.js';
import { describeStep, type Role, type RoleWeights, type Step } from '../core/plan.js';
import type { RevisionSpec } from '../core/provider.js';
import type { DeploymentRecord, DeploymentStatus } from '../core/state.js';

const VERDICTS_PER_CHECK = 5;
const MAX_VERDICTS = 200;

/** Statuses in which a deploy is not finished: another command must not start a new one. */
export const UNFINISHED: DeploymentStatus[] = ['running', 'paused', 'rolling-back'];

export function isUnfinished(record: DeploymentRecord | null): record is DeploymentRecord {
  return !!record && UNFINISHED.includes(record.status);
}

/** Statuses that leave production off a clean state: unfinished, or stopped by a failure. */
export const NOT_SETTLED: DeploymentStatus[] = [...UNFINISHED, 'failed', 'rollback-failed'];

export function isNotSettled(record: DeploymentRecord | null): record is DeploymentRecord {
  return !!record && NOT_SETTLED.includes(record.status);
}

export function newDeploymentId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(3).toString('hex')}`;
}

export function newRecord(args: {
  id: string;
  service: string;
  env?: string;
  strategy: string;
  stable: { revision: RevisionSpec; replicas: number } | null;
  candidate: RevisionSpec;
  plan: Step[];
  by: LockHolderInfo;
  now: number;
  /** Roles already serving and healthy at the start (stable, or both for an instant rollback). */
  healthy?: Role[];
  weights?: RoleWeights;
  candidateReplicas?: number;
  kind?: 'deploy' | 'restore';
}): DeploymentRecord {
  const at = new Date(args.now).toISOString();
  return {
    version: 1,
    id: args.id,
    service: args.service,
    env: args.env,
    strategy: args.strategy,
    ...(args.kind === 'restore' ? { kind: 'restore' as const } : {}),
    status: 'running',
    stable: args.stable?.revision ?? null,
    candidate: args.candidate,
    plan: args.plan,
    stepIndex: 0,
    weights: args.weights ?? { stable: args.stable ? 100 : 0, candidate: 0 },
    replicas: { stable: args.stable?.replicas ?? 0, candidate: args.candidateReplicas ?? 0 },
    stableReplicasBefore: args.stable?.replicas ?? 0,
    testRoute: null,
    healthy: args.healthy ?? (args.stable ? ['stable'] : []),
    startedAt: at,
    updatedAt: at,
    by: args.by,
    verdicts: [],
  };
}

/** A step in the words of this run: a restore names its revisions, as roles would mislead there. */
export function describeRunStep(record: Pick<DeploymentRecord, 'stable' | 'candidate' | 'kind'>, step: Step): string {
  const text = describeStep(step);
  if (record.kind !== 'restore') return text;
  if (step.kind === 'shiftTraffic') return `shift traffic: ${record.candidate.id} ${step.weights.candidate}% | ${record.stable?.id ?? '(none)'} ${step.weights.stable}%`;
  return text.replace(/\bstable\b/g, record.stable?.id ?? 'stable').replace(/\bcandidate\b/g, record.candidate.id);
}

/**
 * Keep the last few results of each check (not the last N overall), so a chatty probe cannot push
 * the verdict that decided a rollback out of the record.
 */
export function addVerdict(record: DeploymentRecord, result: CheckResult): void {
  record.verdicts.push(result);
  const key = (r: CheckResult) => `${r.gate ?? ''}/${r.check}`;
  const same = record.verdicts.filter((r) => key(r) === key(result));
  if (same.length > VERDICTS_PER_CHECK) record.verdicts.splice(record.verdicts.indexOf(same[0]), 1);
  if (record.verdicts.length > MAX_VERDICTS) record.verdicts.splice(0, record.verdicts.length - MAX_VERDICTS);
}

/** `stable v1 80% | candidate v2 20%`; for a restore, by what each revision is: `restored v2 100% | rolled back v3 0%`. */
export function describeWeights(record: Pick<DeploymentRecord, 'stable' | 'candidate' | 'weights' | 'kind'>): string {
  if (record.kind === 'restore') return `restored ${record.candidate.id} ${record.weights.candidate}% | rolled back ${record.stable?.id ?? '(none)'} ${record.weights.stable}%`;
  const s = record.stable ? `stable ${record.stable.id} ${record.weights.stable}%` : 'stable (none)';
  return `${s} | candidate ${record.candidate.id} ${record.weights.candidate}%`;
}
