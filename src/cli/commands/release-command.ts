import { ExitCode } from '../../core/exit-codes.js';
import { UsageError, errorMessage } from '../../core/errors.js';
import { describeStep } from '../../core/plan.js';
import { DEFAULT_RELEASE_PAUSE_MS, DEFAULT_RELEASE_STEPS, flagRampSteps } from '../../flags/flag-plan.js';
import { widerExposure } from '../../flags/flag-step.js';
import { createFlagProvider } from '../../flags/registry.js';
import { releaseFlag } from '../../flags/flag-release.js';
import { createContext, loadCommandConfig } from '../context.js';
import { durationFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

interface ReleaseFlags {
  args?: string[];
  steps?: string;
  pause?: string;
  analysis?: string;
  lockWait?: string;
  dryRun?: boolean;
}

function parseSteps(value: string): number[] {
  const steps = value.split(',').map((s) => s.trim());
  const bad = steps.find((s) => !/^\d+$/.test(s) || Number(s) > 100);
  if (bad !== undefined || !steps.length) throw new UsageError(`--steps must be percentages 0–100 separated by commas, like 10,50,100; got "${value}"`);
  return steps.map(Number);
}

/** `zdd release <flag>`: ramp one flag with bakes and analysis (config `flags.release` gives the defaults). */
export default async function releaseCommand(flags: ReleaseFlags, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const flag = flags.args?.[0];
  if (!flag) throw new UsageError('Which flag? `zdd release <flag>` needs the flag name');
  const loaded = await loadCommandConfig(globals, io);
  const defaults = loaded.config.flags?.release ?? {};
  const gates = Object.keys(loaded.config.gates ?? {});
  const ramp = {
    steps: flags.steps !== undefined ? parseSteps(flags.steps) : (defaults.steps ?? DEFAULT_RELEASE_STEPS),
    pauseMs: flags.pause !== undefined ? durationFlag('--pause', flags.pause) : (defaults.pause ?? DEFAULT_RELEASE_PAUSE_MS),
    analysis: flags.analysis !== undefined ? flags.analysis.split(',').filter(Boolean) : (defaults.analysis ?? (gates.includes('analysis') ? ['analysis'] : [])),
  };
  const missing = ramp.analysis.filter((g) => !gates.includes(g));
  if (missing.length) throw new UsageError(`Analysis gate${missing.length === 1 ? '' : 's'} ${missing.map((g) => `"${g}"`).join(', ')} not defined in the config`, 'Define it under gates, or pass --analysis with gates that exist.');
  if (flags.dryRun) {
    const steps = flagRampSteps(flag, ramp);
    const provider = await createFlagProvider(loaded.config.flags, { configDir: loaded.configDir });
    const notes = await widerExposure(steps, provider)
      .catch((e: unknown) => [`Could not read flag "${flag}" to check for other rules on it: ${errorMessage(e)}`])
      .finally(() => provider.close?.());
    if (io.output.json) io.output.data({ type: 'plan', service: loaded.config.service, strategy: 'flag-release', flag, steps, ...(notes.length ? { notes } : {}) });
    else {
      io.output.human(`Plan for releasing flag "${flag}" of ${loaded.config.service} (${steps.length} steps)\n`);
      steps.forEach((s, i) => io.output.human(`  ${String(i + 1).padStart(2)}. ${describeStep(s)}\n`));
      for (const n of notes) io.output.human(`  note: ${n}.\n`);
    }
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `${steps.length} steps; nothing was changed.` });
  }
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  return withContext(await createContext(globals, io, loaded), async (ctx) => finish(io, await releaseFlag(ctx.engine, { flag, ...ramp, lockWaitMs })));
}
