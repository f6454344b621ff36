import { describeStep } from '../../core/plan.js';
import { widerExposure } from '../../flags/flag-step.js';
import { ExitCode } from '../../core/exit-codes.js';
import { describeObservedSplit, observedSplitSetting } from '../../engine/observed-split.js';
import { drainNotes, readDrainFindings } from '../../engine/drain-check.js';
import { DEFAULT_DRAIN_MS } from '../../engine/engine-deps.js';
import { createContext, defaultStrategy, loadCommandConfig } from '../context.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import { revisionFromFlags } from '../revision.js';
import type { CommandIO } from '../run-cli-command.js';

/** A plan for the candidate `deploy` would use with the same flags (`--image x:1.4.2` → revision 1.4.2). */
export default async function planCommand(flags: { revision?: string; image?: string; strategy?: string }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  const strategyName = flags.strategy ?? defaultStrategy(loaded);
  const candidate = flags.revision || flags.image ? revisionFromFlags(flags) : { id: '<candidate>' };
  return withContext(await createContext(globals, io, loaded), async (ctx) => {
    const { strategy, steps, current } = await ctx.engine.plan({ candidate, strategy: strategyName });
    const notes = ctx.flags ? await widerExposure(steps, ctx.flags) : [];
    if (steps.some((s) => s.kind === 'shiftTraffic')) notes.push(describeObservedSplit(observedSplitSetting(ctx.config, ctx.provider.router)));
    notes.push(...drainNotes(await readDrainFindings(ctx.provider, ctx.config.drain ?? DEFAULT_DRAIN_MS, steps)));
    notes.push(...((await ctx.provider.planNotes?.(steps, ctx.config.strategies?.[strategy.name as keyof typeof ctx.config.strategies] as Record<string, unknown> | undefined)) ?? []));
    if (io.output.json) {
      io.output.data({ type: 'plan', service: ctx.config.service, strategy: strategy.name, stable: current.stable?.revision ?? null, candidate, steps, ...(notes.length ? { notes } : {}) });
    } else {
      io.output.human(`Plan for ${ctx.config.service}: ${current.stable?.revision.id ?? '(nothing running)'} → ${candidate.id} with ${strategy.name} (${steps.length} steps)\n`);
      steps.forEach((s, i) => io.output.human(`  ${String(i + 1).padStart(2)}. ${describeStep(s)}\n`));
      for (const n of notes) io.output.human(`  note: ${n}.\n`);
    }
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `${steps.length} steps; nothing was changed.` });
  });
}
