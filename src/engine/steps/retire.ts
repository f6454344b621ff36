import { ZddError } from '../../core/errors.js';
import { formatDuration, type RetireStep } from '../../core/plan.js';
import { drainMs } from '../engine-deps.js';
import type { StepHandler } from './step-kind.js';

/** Stop a revision with no traffic (drain, then stop), or keep it for `afterMs` so rollback stays instant. */
export const retire: StepHandler<RetireStep> = {
  async run(step, ctx) {
    const { deps, lock } = ctx;
    const { record } = ctx.scope;
    const { platform, router } = deps.provider;
    const rev = record[step.role];
    if (!rev) return;
    if (record.weights[step.role] > 0) {
      throw new ZddError('unsafe-retire', `Refusing to retire ${step.role} ${rev.id} while it has ${record.weights[step.role]}% of traffic`);
    }
    if (record.testRoute === step.role && router.setTestRoute) {
      await lock.beforeProviderWrite();
      await router.setTestRoute(null);
      record.testRoute = null;
    }
    if (step.afterMs && step.afterMs > 0) {
      record.kept = { role: step.role, revision: rev, retireAt: new Date(deps.clock.now() + step.afterMs).toISOString() };
      deps.events.emit({ type: 'info', message: `Keeping ${rev.id} until ${record.kept.retireAt} (${formatDuration(step.afterMs)}) so rollback stays instant; \`zdd retire\` or the next deploy stops it after that` });
      return;
    }
    await lock.beforeProviderWrite();
    await platform.retire(rev.id, { drainMs: drainMs(deps) });
    record.replicas[step.role] = 0;
    record.healthy = record.healthy.filter((r) => r !== step.role);
  },
};
