import { strategyIssues } from '../config/strategy-rules.js';
import { ConfigError } from '../core/errors.js';
import { describeStep, type Step } from '../core/plan.js';
import type { ProviderSnapshot, RevisionSpec } from '../core/provider.js';
import type { Strategy } from '../core/strategy.js';
import { configuredHookPoints } from '../hooks/hook-runner.js';
import { drainMs, type EngineDeps } from './engine-deps.js';
import { withMigrations } from './migrations.js';

/** What the current production state is, as the provider reports it. */
export interface CurrentState {
  stable: { revision: RevisionSpec; replicas: number } | null;
  /** Revisions running besides stable (kept previous, leftovers). */
  others: { revision: RevisionSpec; replicas: number; weight: number }[];
}

/** Production as the provider sees it: the revision with the most weight is stable. */
export async function currentState(deps: Pick<EngineDeps, 'provider' | 'config'>, snapshot?: ProviderSnapshot): Promise<CurrentState> {
  const snap = snapshot ?? (await deps.provider.snapshot());
  let stableId: string | null = null;
  let best = 0;
  for (const [id, w] of Object.entries(snap.weights)) {
    if (w > best) {
      best = w;
      stableId = id;
    }
  }
  const stableState = snap.revisions.find((r) => r.revision.id === stableId);
  const stable = stableId ? { revision: stableState?.revision ?? { id: stableId }, replicas: stableState?.desired ?? deps.config.replicas ?? 1 } : null;
  const others = snap.revisions
    .filter((r) => r.revision.id !== stableId)
    .map((r) => ({ revision: r.revision, replicas: r.desired, weight: snap.weights[r.revision.id] ?? 0 }));
  return { stable, others };
}

/**
 * The strategy's plan from `current` to `candidate` holding 100%. The config was validated when it
 * was loaded; what only the provider can tell (its capabilities, stable's real size) is checked
 * here, by the same rules, before anything changes.
 */
export function buildPlan(deps: Pick<EngineDeps, 'config' | 'provider'>, strategy: Strategy, current: CurrentState, candidate: RevisionSpec): Step[] {
  const { config, provider } = deps;
  const options = strategyOptions(config, strategy.name);
  const replicas = config.replicas ?? current.stable?.replicas ?? 1;
  const issues = strategyIssues(strategy, options, { replicas, capabilities: provider.capabilities, providerName: provider.name, ...(provider.pair ? { pair: provider.pair } : {}) });
  if (issues.length) throw new ConfigError(issues);
  const plan = strategy.plan({
    service: config.service,
    stable: current.stable,
    candidate,
    replicas,
    options: options as never,
    capabilities: provider.capabilities,
    hooks: configuredHookPoints(config),
    gates: Object.keys(config.gates ?? {}),
    drainMs: drainMs(deps as EngineDeps),
  });
  checkPlanReferences(config.gates ?? {}, plan.steps);
  return withMigrations(plan.steps, config.migrations, !!current.stable);
}

/** A strategy's section of the config (`strategies.<name>`), already validated and normalised. */
export function strategyOptions(config: EngineDeps['config'], name: string): unknown {
  return (config.strategies as Record<string, unknown> | undefined)?.[name] ?? {};
}

/** Gates named by a plan must exist; a custom strategy can get this wrong. */
function checkPlanReferences(gates: Record<string, unknown>, steps: Step[]): void {
  const issues = [];
  for (const [i, s] of steps.entries()) {
    const names = s.kind === 'gate' ? [s.gate] : s.kind === 'pause' ? (s.analysis ?? []) : [];
    for (const n of names) if (!gates[n]) issues.push({ path: `gates.${n}`, message: `is used by step ${i + 1} (${describeStep(s)}) but not defined; add it under gates or remove it from the strategy's analysis` });
  }
  if (issues.length) throw new ConfigError(issues);
}
