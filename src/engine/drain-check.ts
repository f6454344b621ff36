import { errorMessage, ProviderError } from '../core/errors.js';
import type { Step } from '../core/plan.js';
import type { Provider } from '../core/provider.js';
import { describeDrainFinding, drainSettings, lintDrains, type DrainFinding } from './drain-lint.js';
import { drainMs, type EngineDeps } from './engine-deps.js';

/** The drain lint's answer for one provider and plan: findings, or why the platform's settings could not be read. */
export type DrainReading = { findings: DrainFinding[] } | { unread: string };

/** Read what the platform waits and lint it against the plan; providers without `drainFacts` have only zdd's own numbers. */
export async function readDrainFindings(provider: Provider, drainMsValue: number, steps: Step[]): Promise<DrainReading> {
  let facts = {};
  if (provider.drainFacts) {
    try {
      facts = await provider.drainFacts();
    } catch (e) {
      return { unread: `could not read the platform's drain settings: ${errorMessage(e)}` };
    }
  }
  return { findings: lintDrains(facts, drainSettings(drainMsValue, steps)) };
}

/**
 * Deploy preflight, before any change: warn about drains that do not match the platform and
 * refuse (exit 5) where the numbers cut requests (promise 8: in-flight requests finish). With
 * `force`, a refusal is a warning. A platform whose settings cannot be read is a warning: the
 * provider's own preflight has passed, and the lint is advice about it.
 */
export async function checkDrains(deps: EngineDeps, steps: Step[], force: boolean): Promise<void> {
  const reading = await readDrainFindings(deps.provider, drainMs(deps), steps);
  if ('unread' in reading) {
    deps.events.emit({ type: 'warn', message: `Drain check skipped: ${reading.unread}` });
    return;
  }
  const refusals = reading.findings.filter((f) => f.severity === 'refuse');
  for (const f of reading.findings) {
    if (f.severity === 'refuse' && !force) continue;
    deps.events.emit({ type: f.severity === 'note' ? 'info' : 'warn', message: `${f.severity === 'refuse' ? '--force: deploying anyway: ' : ''}${describeDrainFinding(f)}` });
  }
  if (refusals.length && !force) {
    throw new ProviderError(`The platform's drain settings would cut requests:\n${refusals.map((f) => `  - ${describeDrainFinding(f)}`).join('\n')}\nNothing was changed.`, {
      code: 'preflight-drain',
      hint: 'Apply the fix above (`zdd validate --provider-checks` checks again), or deploy with --force to go ahead anyway.',
    });
  }
}

/** `zdd plan`'s notes for a drain reading: one per finding, its severity first. */
export function drainNotes(reading: DrainReading): string[] {
  if ('unread' in reading) return [`drain check skipped: ${reading.unread}`];
  return reading.findings.map((f) => `drain ${f.severity === 'refuse' ? 'refusal (deploy stops here)' : f.severity === 'warn' ? 'warning' : 'note'}: ${describeDrainFinding(f)}`);
}
