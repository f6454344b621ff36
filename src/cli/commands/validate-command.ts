import { ConfigError, errorMessage } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { describeDrainFinding, type DrainFinding } from '../../engine/drain-lint.js';
import { DEFAULT_DRAIN_MS } from '../../engine/engine-deps.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { resolveStrategy, loadCommandConfig, defaultStrategy } from '../command-start.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/** Offline by default; `--provider-checks` also reads the platform and lints its drains against the config (exit 5 on a refusal). */
export default async function validateCommand(flags: { providerChecks?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  const { config } = loaded;
  if (config.strategies?.default) resolveStrategy(loaded, config.strategies.default);
  const gates = Object.keys(config.gates ?? {});
  const summary = `Config ${loaded.configPath} is valid: service ${config.service}, provider ${config.provider.type}, ${config.replicas ?? 1} replica(s)` +
    `${gates.length ? `, gates ${gates.join(', ')}` : ''}${loaded.env ? `, environment ${loaded.env}` : ''}.`;
  if (!flags.providerChecks) {
    if (io.output.json) io.output.data({ type: 'config', path: loaded.configPath, service: config.service, provider: config.provider.type, gates });
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: summary });
  }
  return providerChecks(loaded, globals, io, summary, gates);
}

/** A finding with the strategies whose plans meet it. */
type StrategyFinding = DrainFinding & { strategies: string[] };

async function providerChecks(loaded: LoadedConfig, globals: GlobalOptions, io: CommandIO, summary: string, gates: string[]): Promise<number> {
  const { config } = loaded;
  // Each strategy the config sets up has its own bakes and keepPrevious: lint every one of them.
  const strategies = [...new Set([defaultStrategy(loaded), ...Object.keys(config.strategies ?? {}).filter((k) => k !== 'default')])];
  // Loaded only here: plain `zdd validate` stays offline and starts as fast as before.
  const [{ createContext }, { readDrainFindings }, { buildPlan }] = await Promise.all([import('../context.js'), import('../../engine/drain-check.js'), import('../../engine/planning.js')]);
  return withContext(await createContext(globals, io, loaded), async (ctx) => {
    const found = new Map<string, StrategyFinding>();
    for (const name of strategies) {
      let steps;
      try {
        const planned = await ctx.engine.plan({ candidate: { id: '<candidate>' }, strategy: name });
        steps = planned.steps;
        // Nothing runs yet: the first deploy has no bakes, but the config is about every deploy after it.
        if (!planned.current.stable) {
          const stable = { revision: { id: '<stable>' }, replicas: config.replicas ?? 1 };
          steps = buildPlan({ config, provider: ctx.provider }, planned.strategy, { stable, others: [] }, { id: '<candidate>' });
        }
      } catch (e) {
        // A section for a strategy this provider cannot run is not the drain lint's business; the default strategy's is.
        if (name === strategies[0] || !(e instanceof ConfigError)) throw e;
        io.output.human(`  skipped strategy ${name}: ${errorMessage(e)}\n`);
        continue;
      }
      const reading = await readDrainFindings(ctx.provider, config.drain ?? DEFAULT_DRAIN_MS, steps);
      if ('unread' in reading) {
        return finish(io, { result: 'failed', exitCode: ExitCode.ProviderBeforeChange, message: `${summary} Provider checks failed: ${reading.unread}.`, hint: 'Check the credentials and permissions the provider reads with (AWS: elasticloadbalancing:DescribeTargetGroupAttributes, DescribeLoadBalancerAttributes, ecs:DescribeTaskDefinition).' });
      }
      for (const f of reading.findings) {
        const key = `${f.rule}\n${f.message}`;
        const seen = found.get(key);
        if (seen) seen.strategies.push(name);
        else found.set(key, { ...f, strategies: [name] });
      }
    }
    const findings = [...found.values()];
    const refusals = findings.filter((f) => f.severity === 'refuse').length;
    if (io.output.json) {
      io.output.data({ type: 'config', path: loaded.configPath, service: config.service, provider: config.provider.type, gates, providerChecks: { drains: findings } });
    } else {
      for (const f of findings) {
        const only = f.strategies.length < strategies.length ? ` (${f.strategies.join(', ')})` : '';
        io.output.human(`  ${f.severity}${only}: ${describeDrainFinding(f)}.\n`);
      }
    }
    const counts = findings.length ? `${findings.length} drain finding(s), ${refusals} refusal(s)` : 'the drains match the platform';
    if (refusals) {
      return finish(io, { result: 'failed', exitCode: ExitCode.ProviderBeforeChange, message: `${summary} Provider checks: ${counts}: zdd deploy would refuse to start.`, hint: 'Apply the fixes above, then run `zdd validate --provider-checks` again.' });
    }
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `${summary} Provider checks: ${counts}.` });
  });
}
