import type { Check, CheckContext, CheckFactory, Measurement } from '../core/checks.js';
import { ZddError } from '../core/errors.js';
import { formatDuration } from '../core/plan.js';
import { runCommand } from '../hooks/run-command.js';
import type { CommandCheckConfig } from './http-check-schema.js';
import { DEFAULT_THRESHOLDS } from './threshold-schema.js';

/**
 * A smoke command: passes when it exits 0. Gets the engine's ZDD_* variables plus ZDD_TARGET_URL
 * (the candidate through the test route, else its first instance, else the service URL).
 */
export class CommandCheck implements Check {
  readonly type = 'command';
  constructor(
    readonly name: string,
    private readonly config: CommandCheckConfig,
  ) {}

  async measure(ctx: CheckContext): Promise<Measurement> {
    const timeoutMs = this.config.timeout ?? DEFAULT_THRESHOLDS.timeoutMs;
    const env = { ...ctx.env, ...(await targetEnv(ctx)), ...(this.config.env ?? {}) };
    const query = Array.isArray(this.config.run) ? this.config.run.join(' ') : this.config.run;
    const r = await runCommand(this.config.run, { cwd: ctx.cwd, env, timeoutMs, signal: ctx.signal });
    if (r.spawnError) throw new ZddError('command-spawn', `\`${query}\` could not start: ${r.spawnError}`, { hint: 'Check the command exists and is executable from the config directory.' });
    if (r.timedOut) throw new ZddError('command-timeout', `\`${query}\` timed out after ${formatDuration(timeoutMs)} (process tree killed)`);
    const threshold = 'exit code 0';
    if (r.exitCode === 0) return { verdict: 'pass', message: `\`${query}\` exited 0 in ${formatDuration(r.durationMs)}`, query, observed: { exitCode: 0 }, threshold };
    const how = r.exitCode === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with code ${r.exitCode}`;
    const last = r.stderrTail.filter((l) => l.trim()).slice(-3).join(' | ') || r.stdoutTail.filter((l) => l.trim()).slice(-1)[0] || '';
    return {
      verdict: 'fail',
      message: `\`${query}\` ${how}${last ? `: ${last}` : ''}`,
      query,
      observed: { exitCode: r.exitCode, signal: r.signal ?? null },
      threshold,
    };
  }
}

async function targetEnv(ctx: CheckContext): Promise<Record<string, string>> {
  try {
    const ep = await ctx.endpoints('candidate');
    const env: Record<string, string> = {};
    const target = ep.testUrl ?? ep.instanceUrls?.[0] ?? ep.serviceUrl;
    if (target) env.ZDD_TARGET_URL = target;
    if (ep.serviceUrl) env.ZDD_SERVICE_URL = ep.serviceUrl;
    if (ep.testHeaders) env.ZDD_TEST_HEADERS = Object.entries(ep.testHeaders).map(([k, v]) => `${k}: ${v}`).join('\n');
    return env;
  } catch {
    // endpoints are a convenience for the command; a provider that cannot say leaves them out
    return {};
  }
}

export const commandCheck: CheckFactory<CommandCheckConfig> = {
  create: (config, name) => new CommandCheck(name, config),
};
