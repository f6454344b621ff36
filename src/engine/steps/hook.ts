import { errorMessage } from '../../core/errors.js';
import type { HookStep } from '../../core/plan.js';
import { hookProcess } from '../../hooks/hook-process.js';
import { runHooks } from '../../hooks/hook-runner.js';
import { nowIso } from '../engine-deps.js';
import { hookEnv } from '../hook-env.js';
import type { StepHandler } from './step-kind.js';

/** Run the hooks of a lifecycle point; the record names the hook's process group while it runs. */
export const hook: StepHandler<HookStep> = {
  async run(step, ctx) {
    const { deps } = ctx;
    const { record, signal } = ctx.scope;
    await ctx.lock.beforeProviderWrite();
    const onSpawn = async (hook: string, pgid: number) => {
      record.hookProcess = hookProcess(hook, pgid, deps.holder.host, nowIso(deps));
      await ctx.checkpoint();
    };
    try {
      await runHooks(step.hook, deps.config, { cwd: deps.configDir, env: await hookEnv(deps, record, ctx.scope.phase), signal, events: deps.events, onSpawn });
    } finally {
      record.hookProcess = undefined;
    }
  },
  // A hook failing in a rollback (onRollback) is told; the way back to stable goes on.
  inRollback: { attempts: 1, warning: (e) => `${errorMessage(e)} (rollback goes on)` },
};
