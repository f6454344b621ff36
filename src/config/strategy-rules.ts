import type { ConfigIssue } from '../core/errors.js';
import type { ProviderCapabilities } from '../core/provider.js';
import type { Strategy } from '../core/strategy.js';
import { ROUTER_MANIFEST, routersOf, type RouterName } from '../providers/provider-manifest.js';

/**
 * Whether a strategy can run with these options here: the provider has the capabilities it
 * requires, and its own cross-field rules (`validate`) pass. The one place these rules run: at
 * config load (any provider) and before planning (the real provider and stable's real size).
 */
export function strategyIssues(
  strategy: Strategy,
  options: unknown,
  ctx: { replicas: number; capabilities: ProviderCapabilities; providerName?: string; pair?: { platform: string; router: string } },
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const missing = strategy.requires.filter((c) => !ctx.capabilities[c]);
  if (missing.length && ctx.pair) {
    for (const c of missing) issues.push({ path: 'provider', message: describedCapability(c) ? missingCapability(strategy.name, c, ctx.pair) : `${strategy.name} needs ${c}, which provider "${ctx.pair.platform}" + router "${ctx.pair.router}" cannot do; pick another strategy (--strategy)` });
  } else if (missing.length) {
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

/** What each provider capability is called, and whether a router or the platform has it. */
const CAPABILITY: Record<Exclude<keyof ProviderCapabilities, 'rollsInPlace' | 'watchdog'>, { says: string; of: 'router' | 'platform'; has(r: (typeof ROUTER_MANIFEST)[RouterName]['capabilities']): boolean }> = {
  weightedTraffic: { says: 'weights', of: 'router', has: (r) => r.weights !== false },
  instantSwitch: { says: 'an instant switch', of: 'router', has: (r) => r.instantSwitch },
  testRoute: { says: 'a test route (header route or test listener)', of: 'router', has: (r) => r.headerRoute || r.testListener },
  batches: { says: 'batches (instance by instance)', of: 'platform', has: () => false },
};
const describedCapability = (c: keyof ProviderCapabilities): c is keyof typeof CAPABILITY => c in CAPABILITY;

/** "canary needs weights: router `service` has none; choose istio or gateway-api", from the declared capabilities. */
function missingCapability(strategy: string, c: keyof typeof CAPABILITY, pair: { platform: string; router: string }): string {
  const cap = CAPABILITY[c];
  if (cap.of === 'platform') return `${strategy} needs ${cap.says}: platform \`${pair.platform}\` has none; pick another strategy (--strategy) or platform`;
  const router = ROUTER_MANIFEST[pair.router as RouterName];
  if (router && cap.has(router.capabilities)) {
    return `${strategy} needs ${cap.says}: router \`${pair.router}\` can, but its configuration turns it off; turn it on in provider.router (see docs/extending.md for what each router needs), or pick another strategy (--strategy)`;
  }
  const others = routersOf(pair.platform).filter((r) => r !== pair.router && cap.has(ROUTER_MANIFEST[r].capabilities));
  const choose = others.length ? `choose ${others.join(' or ')} (provider.router.type)` : `no router of platform \`${pair.platform}\` has it; pick another strategy (--strategy)`;
  return `${strategy} needs ${cap.says}: router \`${pair.router}\` has none; ${choose}`;
}
