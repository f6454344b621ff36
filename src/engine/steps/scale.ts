import { ZddError } from '../../core/errors.js';
import type { ScaleStep } from '../../core/plan.js';
import { drainMs } from '../engine-deps.js';
import { revisionOf, type StepHandler } from './step-kind.js';

/** Change a revision's instance count; never to 0 while it has traffic; growing waits for health. */
export const scale: StepHandler<ScaleStep> = {
  async run(step, ctx) {
    const { deps } = ctx;
    const { record } = ctx.scope;
    const rev = revisionOf(record, step.role);
    const before = record.replicas[step.role];
    if (step.replicas === 0 && record.weights[step.role] > 0) {
      throw new ZddError('unsafe-scale', `Refusing to scale ${step.role} ${rev.id} to 0 while it has ${record.weights[step.role]}% of traffic`);
    }
    await ctx.lock.beforeProviderWrite();
    await deps.provider.platform.scale(rev.id, step.replicas, { drainMs: drainMs(deps) });
    record.replicas[step.role] = step.replicas;
    if (step.replicas > before) await ctx.untilHealthy(step.role, rev.id);
  },
};
