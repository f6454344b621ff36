import { ExitCode } from '../../core/exit-codes.js';
import { UsageError, errorMessage } from '../../core/errors.js';
import { loadFlagsSection } from '../../config/flags-section.js';
import type { LoadedConfig } from '../../config/load-config.js';
import { describeFlagState, type FlagProvider } from '../../flags/flag-provider.js';
import { createFlagProvider } from '../../flags/registry.js';
import { finish } from '../finish.js';
import { maskOutput, maskUnvalidated } from '../output-mask.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/**
 * The flag service from the config's `flags` section alone (src/config/flags-section.ts), with every
 * secret of the file masked from here on; `validated()` checks the whole config afterwards, reading
 * nothing again. `zdd flag kill` and `zdd flag get` need nothing else before they call the service.
 */
async function flagProvider(globals: GlobalOptions, io: CommandIO): Promise<{ flags: FlagProvider; validated: () => Promise<LoadedConfig> }> {
  const section = await loadFlagsSection({ configPath: globals.config, cwd: process.cwd(), env: globals.env });
  maskUnvalidated(section.effective, io);
  const flags = await createFlagProvider(section.flags, { configDir: section.configDir });
  const validated = async () => {
    const loaded = (await import('../../config/load-config.js')).configFrom(section.raw, globals.env);
    maskOutput(loaded, io);
    return loaded;
  };
  return { flags, validated };
}

/**
 * After the kill: a deploy or release of the service that changed this flag and has not finished is
 * asked to abort, through the state store's request channel (as `zdd abort` does). Its rollback then keeps the flag off. The
 * flag is already off, so a state store that cannot be reached only costs a warning.
 */
async function abortReleaseUsing(flag: string, loaded: LoadedConfig, globals: GlobalOptions, killedAt: string): Promise<string | undefined> {
  // Loaded after the kill: the flag is off before any of this is read from disk.
  const [{ isUnfinished }, { openStateStore }] = await Promise.all([import('../../engine/deployment-record.js'), import('../open-state-store.js')]);
  const store = await openStateStore(loaded, globals);
  const record = await store.records.latest(loaded.config.service);
  if (!record || !record.plan.some((s) => s.kind === 'flag' && s.flag === flag)) return undefined;
  const what = `${record.strategy === 'flag-release' ? 'Release' : 'Deploy'} ${record.id} (by ${record.by.who}@${record.by.host}, started ${record.startedAt}) ramps this flag`;
  if (isUnfinished(record) && record.status !== 'rolling-back') {
    // A request, not a write of the record: only the deploy's lock holder writes that (promise 11).
    await store.records.request(loaded.config.service, record.id, 'abort', { at: new Date().toISOString(), by: `the kill switch (zdd flag kill "${flag}")` });
    return `${what} and is running: asked it to stop; it rolls back and keeps the flag off.`;
  }
  // Its bake reads the flag on every poll: between the kill and this read it may have seen the flag
  // off and begun its rollback by itself. Still the release the kill stopped: say so.
  if (record.rollback && record.rollback.startedAt >= killedAt) return `${what} and saw it off: it is rolling back by itself and keeps the flag off.`;
  return undefined;
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
  const killedAt = new Date().toISOString();
  const flag = flagName(opts);
  const { flags, validated } = await flagProvider(globals, io);
  try {
    const calling = performance.now();
    const state = await flags.kill(flag);
    const ms = Math.round(performance.now() - started);
    const serviceMs = Math.round(performance.now() - calling);
    if (io.output.json) io.output.data({ type: 'flag', action: 'kill', state, ms, serviceMs });
    let aborted: string | undefined;
    let loaded: LoadedConfig | undefined;
    try {
      loaded = await validated();
    } catch (e) {
      io.bus.emit({ type: 'warn', message: `The flag is off, but the rest of the config is not valid, so no running release of it was looked up. ${errorMessage(e)}` });
    }
    try {
      if (loaded) aborted = await abortReleaseUsing(flag, loaded, globals, killedAt);
    } catch (e) {
      io.bus.emit({ type: 'warn', message: `The flag is off, but the deployment records could not be read to stop a running release: ${errorMessage(e)}` });
    }
    return finish(io, {
      result: 'succeeded',
      exitCode: ExitCode.Ok,
      message:
        `Flag "${flag}" is OFF in ${flags.environment} (read back ${ms}ms after the command started, ${serviceMs}ms of it with ${flags.name}): ${describeFlagState(state)}.` +
        (aborted ? `\n${aborted}` : ''),
      hint: aborted
        ? 'Follow it with `zdd status`.'
        : !loaded
        ? `Fix the config, then run \`zdd status\` to see whether a release of this flag is running${state.rollout !== null ? ' (one running from anywhere sees the flag off within a second and stops, keeping it off)' : ''}.`
        : `The rollout is kept: \`zdd release\` or the flag service turns it back on when the incident is over. No running release of this flag is recorded in this machine's state${state.rollout !== null ? '; one running from elsewhere sees the flag off within a second and stops, keeping it off' : ''}.`,
    });
  } finally {
    await flags.close?.();
  }
}

/** Prints the flag as the service reports it now. */
export async function flagGet(opts: { args?: string[] }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const flag = flagName(opts);
  const { flags, validated } = await flagProvider(globals, io);
  try {
    // A read changes nothing: the whole config is checked first, as every other command does.
    await validated();
    const state = await flags.get(flag);
    if (io.output.json) io.output.data({ type: 'flag', action: 'get', state });
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `Flag "${flag}" in ${flags.environment}: ${describeFlagState(state)}.` });
  } finally {
    await flags.close?.();
  }
}
