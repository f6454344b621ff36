import type { ProvisionStep } from '../../core/plan.js';
import { revisionOf, type StepHandler } from './step-kind.js';

/** Start the role's revision with its instances, then wait until every one is healthy. */
export const provision: StepHandler<ProvisionStep> = {
  async run(step, ctx) {
    const { record } = ctx.scope;
    const rev = revisionOf(record, step.role);
    await ctx.lock.beforeProviderWrite();
    await ctx.deps.provider.platform.provision(rev, step.replicas);
    record.replicas[step.role] = step.replicas;
    await ctx.untilHealthy(step.role, rev.id);
  },
};
