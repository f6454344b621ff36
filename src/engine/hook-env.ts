import type { DeploymentRecord } from '../core/state.js';
import type { EngineDeps } from './engine-deps.js';

/**
 * The ZDD_* contract in one place: what hooks (and command checks) find in their environment.
 * Documented in README "Hooks"; names never change meaning.
 */
export function baseEnv(deps: Pick<EngineDeps, 'env'>, record: DeploymentRecord): Record<string, string> {
  const env: Record<string, string> = {
    ZDD_SERVICE: record.service,
    ZDD_REVISION: record.candidate.id,
    ZDD_CANDIDATE_REVISION: record.candidate.id,
    ZDD_STABLE_REVISION: record.stable?.id ?? '',
    ZDD_STRATEGY: record.strategy,
    ZDD_DEPLOYMENT_ID: record.id,
    ZDD_STEP: String(record.stepIndex + 1),
    ZDD_WEIGHT: String(record.weights.candidate),
  };
  if (record.candidate.image) env.ZDD_IMAGE = record.candidate.image;
  if (deps.env) env.ZDD_ENV = deps.env;
  return env;
}

/** baseEnv plus the phase, the rollback reason and where the candidate can be reached. */
export async function hookEnv(deps: Pick<EngineDeps, 'env' | 'provider'>, record: DeploymentRecord, phase: 'deploy' | 'rollback'): Promise<Record<string, string>> {
  const env = baseEnv(deps, record);
  env.ZDD_PHASE = phase;
  if (record.rollback) env.ZDD_ROLLBACK_REASON = record.rollback.reason;
  try {
    const ep = await deps.provider.platform.endpoints(record.candidate.id);
    const target = ep.testUrl ?? ep.instanceUrls?.[0] ?? ep.serviceUrl;
    if (target) env.ZDD_TARGET_URL = target;
    if (ep.serviceUrl) env.ZDD_SERVICE_URL = ep.serviceUrl;
    if (ep.testHeaders) env.ZDD_TEST_HEADERS = Object.entries(ep.testHeaders).map(([k, v]) => `${k}: ${v}`).join('\n');
  } catch {
    // endpoints are a convenience for hooks; a provider that cannot say leaves them out
  }
  return env;
}
