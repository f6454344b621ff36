import type { DeploymentRecord } from '../core/state.js';

/** True when `v` looks like a deployment record (enough to use it; the engine reads the rest). */
export function isDeploymentRecord(v: unknown): v is DeploymentRecord {
  const r = v as Partial<DeploymentRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.service === 'string' && typeof r.status === 'string' && Array.isArray(r.plan);
}
