import { CheckFailedError, ConfigError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type { FlagStep, Step } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';
import { describeFlagState, flagDifferences, settingOf, type FlagProvider, type FlagState } from './flag-provider.js';
import { flagsOf } from './flag-plan.js';
import type { FlagReleaseConfig } from './schema.js';

/** What the engine lends a flag step. */
export interface FlagStepDeps {
  flags: FlagProvider | undefined;
  /** Stickiness, group id and constraints of every rollout (config `flags.release`). */
  release?: FlagReleaseConfig;
  /** Checkpoint the record. */
  save(): Promise<void>;
  events: EventSink;
}

export function requireFlags(flags: FlagProvider | undefined, steps: Step[]): FlagProvider {
  if (flags) return flags;
  throw new ConfigError([{ path: 'flags', message: `the plan sets flag${flagsOf(steps).length === 1 ? '' : 's'} ${flagsOf(steps).map((f) => `"${f}"`).join(', ')} but no flag service is configured; add flags: { provider: "unleash", url, environment }` }]);
}

/**
 * Before anything changes: every flag of the plan exists and the service takes the token. A failure
 * is a ProviderError with `changed: false` (exit 5).
 */
export async function preflightFlags(steps: Step[], flags: FlagProvider | undefined): Promise<void> {
  const names = flagsOf(steps);
  if (!names.length) return;
  const provider = requireFlags(flags, steps);
  for (const flag of names) await provider.get(flag);
}

/**
 * Runs one flag step: the flag's state is recorded (and checkpointed) before zdd first writes it,
 * then one write, read back by the provider. `restore` writes the recorded state back; if the flag
 * was turned off behind zdd's back (`zdd flag kill` in an incident), it stays off and only the
 * rollout goes back.
 */
export async function runFlagStep(step: FlagStep, record: DeploymentRecord, deps: FlagStepDeps): Promise<void> {
  const flags = requireFlags(deps.flags, [step]);
  const entry = record.flags?.[step.flag];
  if (step.action === 'restore') {
    if (!entry) return;
    const target = settingOf(entry.before);
    const now = await flags.get(step.flag);
    // Off now but on before: whoever turned it off meant it, unless it was zdd's own recorded `off`
    // step. The record may be a write behind (a run killed between a flag write and its
    // checkpoint), so a missing or stale `last` must not be read as "zdd left it on".
    const zddTurnedItOff = entry.last?.enabled === false && record.plan.slice(0, record.stepIndex + 1).some((s) => s.kind === 'flag' && s.flag === step.flag && s.action === 'off');
    if (target.enabled && !now.enabled && !zddTurnedItOff) {
      target.enabled = false;
      deps.events.emit({ type: 'warn', message: `Flag "${step.flag}" was turned off during the release (kill switch): it stays off; its rollout goes back to ${entry.before.rollout ?? 'none'}` });
    }
    entry.last = await flags.set(step.flag, target);
    deps.events.emit({ type: 'info', message: `Flag "${step.flag}" in ${flags.environment}: ${describeFlagState(entry.last)} (read back)` });
    return;
  }
  if (!entry) {
    const before = await flags.get(step.flag);
    record.flags = { ...record.flags, [step.flag]: { before } };
    await deps.save();
  }
  const rec = record.flags![step.flag]!;
  // (Not at the first write of a run: `before` was read just now.)
  const off = step.action === 'rollout' && entry ? await turnedOffBehindZdd(flags, step.flag, rec.last ?? rec.before) : 'no';
  if (off === 'yes') {
    // Someone pulled the kill switch since zdd's last write: never turn it back on.
    throw new CheckFailedError(
      `Flag "${step.flag}" was turned off in ${flags.environment} after zdd set it (kill switch); the release stops here and rolls back, keeping the flag off`,
      'Turn it on again with `zdd release` once the incident is over.',
    );
  }
  if (off === 'unsure') {
    throw new CheckFailedError(
      `Flag "${step.flag}" is off in ${flags.environment} but not as zdd last recorded it: a run killed between its writes left it so, or the kill switch was pulled after a write zdd had not recorded yet. To be safe the release stops here and rolls back, keeping the flag off`,
      'If nobody turned it off on purpose, run `zdd release` again.',
    );
  }
  const release = deps.release ?? {};
  rec.last =
    step.action === 'off'
      ? await flags.kill(step.flag)
      : await flags.set(step.flag, {
          enabled: true,
          rollout: step.percent ?? 0,
          stickiness: release.stickiness,
          groupId: release.groupId,
          constraints: release.constraints?.map((c) => ({ contextName: c.contextName, operator: c.operator ?? 'IN', values: c.values })),
        });
  deps.events.emit({ type: 'info', message: `Flag "${step.flag}" in ${flags.environment}: ${describeFlagState(rec.last)} (read back)` });
}

/**
 * Is the flag off behind zdd's back? A rollout step never writes a flag off, so a flag off now that
 * zdd last knew on was turned off by someone (`yes`). Off now, off when zdd last knew it, and
 * changed since (`unsure`): the record is a write behind (a run killed between a write and its
 * checkpoint), and either a step that sets the rollout before turning the flag on was cut between
 * its writes, or its whole write landed and someone turned the flag off. Both look the same.
 */
async function turnedOffBehindZdd(flags: FlagProvider, flag: string, known: FlagState): Promise<'yes' | 'no' | 'unsure'> {
  const now = await flags.get(flag);
  // Stryker disable next-line StringLiteral: the caller acts only on 'yes' and 'unsure'; any other answer means go on
  if (now.enabled) return 'no';
  if (known.enabled) return 'yes';
  // Stryker disable next-line StringLiteral: the caller acts only on 'yes' and 'unsure'; any other answer means go on
  return flagDifferences(now, settingOf(known)).length > 0 ? 'unsure' : 'no';
}
