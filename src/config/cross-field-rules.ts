import type { ConfigIssue } from '../core/errors.js';
import type { ProviderCapabilities } from '../core/provider.js';
import type { Strategy } from '../core/strategy.js';
import { BUILT_IN_STRATEGIES, RECORD_STRATEGIES } from '../../strategies/index.js';
import type { ZddConfig } from './schema.js';
import { strategyIssues } from './strategy-rules.js';

/** Until a provider is created its abilities are unknown; planning checks them again with the real provider. */
const ANY_PROVIDER: ProviderCapabilities = { weightedTraffic: true, instantSwitch: true, testRoute: true, batches: true };

/** Rules that span fields, run after the schema passes. Each problem names its path and the fix. */
export function crossFieldIssues(config: ZddConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const strategies = (config.strategies ?? {}) as Record<string, unknown> & { default?: string; plugins?: Record<string, Strategy> };
  const plugins = strategies.plugins ?? {};
  const known = [...Object.keys(BUILT_IN_STRATEGIES), ...Object.keys(plugins)];
  const gates = Object.keys(config.gates ?? {});

  if (strategies.default && !known.includes(strategies.default)) {
    issues.push({ path: 'strategies.default', message: `unknown strategy "${strategies.default}"; use one of ${known.map((k) => `"${k}"`).join(', ')}` });
  }
  for (const [name, plugin] of Object.entries(plugins)) {
    if (BUILT_IN_STRATEGIES[name] || RECORD_STRATEGIES[name]) issues.push({ path: `strategies.plugins.${name}`, message: `"${name}" is a built-in strategy; give the plugin another name` });
    // Records name the strategy; rollback and promote look it up by that name later.
    const own = (plugin as { name?: unknown }).name;
    if (own !== name) issues.push({ path: `strategies.plugins.${name}.name`, message: `must equal its key "${name}" (got ${JSON.stringify(own)}), so that zdd rollback finds the strategy from the deployment record` });
  }
  const all: Record<string, Strategy> = { ...BUILT_IN_STRATEGIES, ...plugins };
  for (const [name, strategy] of Object.entries(all)) {
    const options = strategies[name] as { analysis?: unknown } | undefined;
    if (!options) continue;
    const analysis = Array.isArray(options.analysis) ? options.analysis : [];
    analysis.forEach((gate, i) => {
      if (typeof gate === 'string' && !gates.includes(gate)) {
        issues.push({ path: `strategies.${name}.analysis[${i}]`, message: `gate "${gate}" is not defined; add it under gates${gates.length ? ` (defined: ${gates.join(', ')})` : ''}` });
      }
    });
    // Capabilities are checked with the real provider before planning; here only the options.
    issues.push(...strategyIssues(strategy, options, { replicas: config.replicas ?? 1, capabilities: ANY_PROVIDER }).filter((i) => i.path !== 'provider'));
  }
  return issues;
}
