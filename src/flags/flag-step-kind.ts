import { errorMessage } from '../core/errors.js';
import type { FlagStep } from '../core/plan.js';
import type { StepHandler } from '../engine/steps/step-kind.js';
import { describeFlagState } from './flag-provider.js';
import { preflightFlags, runFlagStep, watchForKill } from './flag-step.js';

/**
 * The `flag` step kind, registered in the engine's table (engine/steps/index.ts): set a flag and
 * read it back; before a run, check the flags exist; during a bake, watch for a kill; in outcomes,
 * say where each flag is.
 */
export const flag: StepHandler<FlagStep> = {
  async run(step, ctx) {
    const { deps } = ctx;
    await ctx.lock.beforeProviderWrite();
    return runFlagStep(step, ctx.scope.record, { flags: deps.flags, release: deps.config.flags?.release, save: () => ctx.checkpoint(), events: deps.events });
  },
  // Traffic back on stable helps even when a flag cannot be put back: the rollback goes on, then fails.
  inRollback: {
    attempts: 3,
    warning: (e) => `${errorMessage(e)}: the flag could not be put back; the rest of the rollback goes on, then it ends as failed`,
    failsRollback: true,
  },
  preflight: (steps, deps) => preflightFlags(steps, deps.flags, deps.config.flags?.release, deps.events),
  watchBake: (record, deps, signal) => watchForKill(record, deps.flags, signal),
  leftBehind: (record) =>
    Object.entries(record.flags ?? {}).map(([f, e]) => ({ noun: 'flag', name: `"${f}"`, now: e.last ? describeFlagState(e.last) : undefined, before: describeFlagState(e.before) })),
};
