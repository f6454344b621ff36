import type { DeploymentRecord, DeploymentRequest } from '../core/state.js';

/** True when `v` looks like a deployment record (enough to use it; the engine reads the rest). */
export function isDeploymentRecord(v: unknown): v is DeploymentRecord {
  const r = v as Partial<DeploymentRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.service === 'string' && typeof r.status === 'string' && Array.isArray(r.plan);
}

/** The shape of a stored request (`requests/<id>.<kind>.json`). */
export function isDeploymentRequest(v: unknown): v is DeploymentRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.at === 'string' && (r.stepIndex === undefined || typeof r.stepIndex === 'number');
}

/** A request kept to what the interface promises (a stored file may carry more). */
export function requestOf(v: DeploymentRequest): DeploymentRequest {
  return { at: v.at, ...(v.stepIndex === undefined ? {} : { stepIndex: v.stepIndex }), ...(typeof v.by === 'string' ? { by: v.by } : {}) };
}
