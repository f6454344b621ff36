import type { ConfigIssue } from '../core/errors.js';
import type { ProviderCapabilities } from '../core/provider.js';
import type { Strategy } from '../core/strategy.js';

/**
 * Whether a strategy can run with these options here: the provider has the capabilities it
 * requires, and its own cross-field rules (`validate`) pass. The one place these rules run: at
 * config load (any provider) and before planning (the real provider and stable's real size).
 */
export function strategyIssues(
  strategy: Strategy,
  options: unknown,
  ctx: { replicas: number; capabilities: ProviderCapabilities; providerName?: string },
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const missing = strategy.requires.filter((c) => !ctx.capabilities[c]);
  if (missing.length) {
    issues.push({
      path: 'provider',
      message: `provider "${ctx.providerName ?? '?'}" cannot do ${missing.join(', ')}, which strategy "${strategy.name}" needs; pick another strategy (--strategy) or provider`,
    });
  }
  for (const p of strategy.validate?.(options as never, { replicas: ctx.replicas, capabilities: ctx.capabilities }) ?? []) {
    issues.push({ path: `strategies.${strategy.name}${p.path ? `.${p.path}` : ''}`, message: p.message });
  }
  return issues;
}
