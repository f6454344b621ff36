import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { describeFlagState, type FlagProvider } from '../../flags/flag-provider.js';
import { createFlagProvider } from '../../flags/registry.js';
import { loadCommandConfig } from '../context.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

async function flagProvider(globals: GlobalOptions): Promise<FlagProvider> {
  const loaded = await loadCommandConfig(globals);
  return createFlagProvider(loaded.config.flags, { configDir: loaded.configDir });
}

function flagName(opts: { args?: string[] }): string {
  const flag = opts.args?.[0];
  if (!flag) throw new UsageError('Which flag? `zdd flag kill <flag>` needs the flag name');
  return flag;
}

/**
 * The incident kill switch: one write that turns the flag off in the configured environment, read
 * back. Needs only the config and the token: no lock, no deployment record, no provider start, so it
 * works from any machine and while a release runs.
 */
export async function flagKill(opts: { args?: string[] }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const started = performance.now();
  const flag = flagName(opts);
  const flags = await flagProvider(globals);
  try {
    const state = await flags.kill(flag);
    const ms = Math.round(performance.now() - started);
    if (io.output.json) io.output.data({ type: 'flag', action: 'kill', state, ms });
    return finish(io, {
      result: 'succeeded',
      exitCode: ExitCode.Ok,
      message: `Flag "${flag}" is OFF in ${flags.environment} (read back after ${ms}ms): ${describeFlagState(state)}.`,
      hint: 'The rollout is kept: `zdd release` or the flag service turns it back on when the incident is over.',
    });
  } finally {
    await flags.close?.();
  }
}

/** Prints the flag as the service reports it now. */
export async function flagGet(opts: { args?: string[] }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const flag = flagName(opts);
  const flags = await flagProvider(globals);
  try {
    const state = await flags.get(flag);
    if (io.output.json) io.output.data({ type: 'flag', action: 'get', state });
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `Flag "${flag}" in ${flags.environment}: ${describeFlagState(state)}.` });
  } finally {
    await flags.close?.();
  }
}
