import type { MigrationStep } from '../../core/plan.js';
import { runMigrationStep } from '../migrations.js';
import type { StepHandler } from './step-kind.js';

/** Run the configured migration of a phase, checkpointed before and after (engine/migrations.ts). */
export const migration: StepHandler<MigrationStep> = {
  async run(step, ctx) {
    await ctx.lock.beforeProviderWrite();
    return runMigrationStep(step, { deps: ctx.deps, record: ctx.scope.record, signal: ctx.scope.signal, save: () => ctx.checkpoint() });
  },
};
