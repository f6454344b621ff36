import type { ConfigIssue } from '../core/errors.js';
import type { Strategy } from '../core/strategy.js';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';
import { closest, formatZodIssues } from './format-issues.js';
import type { ZddConfig } from './schema.js';

const NOT_A_STRATEGY = ['default', 'plugins'];

/**
 * The normalise step for `strategies`: a plugin's section is parsed by the plugin's own
 * `optionsSchema` (so durations become ms, as for built-ins), and a section that belongs to no
 * strategy is named with the fix. Returns the config with the parsed sections.
 */
export function normaliseStrategySections(config: ZddConfig): { config: ZddConfig; issues: ConfigIssue[] } {
  const sections = (config.strategies ?? {}) as Record<string, unknown>;
  const plugins = (config.strategies?.plugins ?? {}) as Record<string, Strategy>;
  const issues: ConfigIssue[] = [];
  const out: Record<string, unknown> = { ...sections };
  for (const [name, value] of Object.entries(sections)) {
    if (NOT_A_STRATEGY.includes(name) || BUILT_IN_STRATEGIES[name]) continue;
    const plugin = plugins[name];
    if (!plugin) {
      const known = [...Object.keys(BUILT_IN_STRATEGIES), ...Object.keys(plugins)];
      const guess = closest(name, [...known, ...NOT_A_STRATEGY]);
      issues.push({
        path: `strategies.${name}`,
        message: guess ? `unknown key; did you mean "${guess}"?` : `unknown key: no strategy is called "${name}"; options go under one of ${known.map((k) => `"${k}"`).join(', ')}, a custom strategy under strategies.plugins`,
      });
      continue;
    }
    if (!plugin.optionsSchema) continue;
    const parsed = plugin.optionsSchema.safeParse(value);
    if (parsed.success) out[name] = parsed.data;
    else issues.push(...formatZodIssues(parsed.error.issues, plugin.optionsSchema, value).map((i) => ({ path: `strategies.${name}${i.path ? (i.path.startsWith('[') ? i.path : `.${i.path}`) : ''}`, message: i.message })));
  }
  return { config: config.strategies ? { ...config, strategies: out as ZddConfig['strategies'] } : config, issues };
}
