import { ProviderError, ZddError } from '../../core/errors.js';
import type { TestRouteStep } from '../../core/plan.js';
import { revisionOf, type StepHandler } from './step-kind.js';

/** Route header-carrying test requests to a healthy role (or stop routing them). */
export const testRoute: StepHandler<TestRouteStep> = {
  async run(step, ctx) {
    const { deps } = ctx;
    const { record } = ctx.scope;
    const { router } = deps.provider;
    if (!router.setTestRoute) {
      if (step.role === null) return;
      throw new ProviderError(`Provider "${deps.provider.name}" has no test route`, { changed: true });
    }
    if (step.role && !record.healthy.includes(step.role)) {
      throw new ZddError('unhealthy-target', `Refusing to route test traffic to ${step.role} ${revisionOf(record, step.role).id}: it has not passed its health checks`);
    }
    await ctx.lock.beforeProviderWrite();
    await router.setTestRoute(step.role ? revisionOf(record, step.role).id : null);
    record.testRoute = step.role;
  },
};
