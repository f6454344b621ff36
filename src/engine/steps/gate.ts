import { runGate } from '../../checks/gate-runner.js';
import { CheckFailedError, ConfigError } from '../../core/errors.js';
import type { GateStep } from '../../core/plan.js';
import { onInconclusive } from './pause.js';
import type { StepHandler } from './step-kind.js';

/** Run a named gate's checks once to completion; a failure fails the step, no evidence asks its `onInconclusive`. */
export const gate: StepHandler<GateStep> = {
  async run(step, ctx) {
    const gate = ctx.deps.config.gates?.[step.gate];
    if (!gate) throw new ConfigError([{ path: `gates.${step.gate}`, message: 'is used by the plan but not defined' }]);
    const outcome = await runGate(gate, ctx.checkContext(ctx.scope.signal), {
      gateName: step.gate,
      mode: 'gate',
      onResult: (r) => ctx.onCheckResult({ ...r, gate: step.gate }),
    });
    if (outcome.verdict === 'fail') throw new CheckFailedError(`Gate "${step.gate}" failed: ${outcome.reason}`);
    if (outcome.verdict === 'inconclusive') await onInconclusive(ctx, 'Gate', step.gate, gate, outcome.reason);
  },
};
