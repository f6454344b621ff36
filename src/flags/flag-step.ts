import { CheckFailedError, ConfigError, ProviderError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type { FlagStep, Step } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';
import { FlagKilledError, describeFlagState, describeOtherRules, flagDifferences, settingOf, type FlagProvider, type FlagSetting, type FlagState } from './flag-provider.js';
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
export async function preflightFlags(steps: Step[], flags: FlagProvider | undefined, release?: FlagReleaseConfig, events?: EventSink): Promise<void> {
  const names = flagsOf(steps);
  if (!names.length) return;
  const provider = requireFlags(flags, steps);
  const rollsOut = steps.some((s) => s.kind === 'flag' && s.action === 'rollout');
  for (const flag of names) {
    // What the rollout names first: a missing project reads as a missing flag otherwise.
    if (rollsOut) await provider.preflight?.(flag, rolloutSetting(release, 0));
    await provider.get(flag);
  }
  for (const note of rollsOut ? await widerExposure(steps, provider) : []) {
    if (release?.otherRules === 'refuse') {
      throw new ProviderError(`${note}. flags.release.otherRules is "refuse": nothing was changed.`, {
        code: 'flag-other-rules',
        hint: `Remove or disable those rules on the flag, or set flags.release.otherRules: 'warn' to release with them.`,
      });
    }
    events?.emit({ type: 'warn', message: `${note} (flags.release.otherRules: 'refuse' stops such a release)` });
  }
}

/**
 * Exposure the plan's percentages do not show: for each flag it ramps, the other active rules on
 * it, which the service ORs with zdd's rollout while the flag is on. One sentence per such flag.
 */
export async function widerExposure(steps: Step[], flags: FlagProvider): Promise<string[]> {
  const notes: string[] = [];
  const ramped = flagsOf(steps.filter((s) => s.kind === 'flag' && s.action === 'rollout'));
  for (const flag of ramped) {
    const others = (await flags.otherRules?.(flag)) ?? [];
    if (!others.length) continue;
    notes.push(
      `Flag "${flag}" in ${flags.environment} has ${others.length === 1 ? 'another active rule' : `${others.length} other active rules`} besides zdd's rollout: ${describeOtherRules(others)}. ` +
        `${flags.name === 'unleash' ? 'Unleash ORs them' : 'They are ORed'} with the rollout: while the flag is on, users they match get it whatever the step's percentage`,
    );
  }
  return notes;
}

/** What a rollout step writes: on, at `percent`, with the stickiness, group and constraints of config `flags.release`. */
function rolloutSetting(release: FlagReleaseConfig | undefined, percent: number): FlagSetting {
  const r = release ?? {};
  return {
    enabled: true,
    rollout: percent,
    stickiness: r.stickiness,
    groupId: r.groupId,
    constraints: r.constraints?.map((c) => ({ contextName: c.contextName, operator: c.operator ?? 'IN', values: c.values })),
  };
}

/**
 * The flag's change mark when this run last knew it (read before its first write, or read back
 * after a write), per record: a kill logged after it is someone's, never zdd's own.
 */
const marks = new WeakMap<DeploymentRecord, Map<string, string | null>>();

function markOf(record: DeploymentRecord, flag: string): string | null | undefined {
  return marks.get(record)?.get(flag);
}

async function remember(record: DeploymentRecord, flag: string, flags: FlagProvider): Promise<void> {
  if (!flags.changeMark) return;
  const m = marks.get(record) ?? new Map<string, string | null>();
  m.set(flag, await flags.changeMark(flag));
  marks.set(record, m);
}

/**
 * A bake's watch on the flags this run left on: read back every `everyMs` (real time: a person's
 * kill must stop the run in about that long, whatever the bake's clock). Rejects with
 * FlagKilledError when one is off, naming who turned it off as far as the service tells; never
 * resolves otherwise. Stops when `signal` aborts.
 */
export function watchForKill(record: DeploymentRecord, flags: FlagProvider | undefined, signal: AbortSignal, everyMs = KILL_POLL_MS): Promise<never> {
  const watched = Object.entries(record.flags ?? {}).filter(([, e]) => e.last?.enabled).map(([f]) => f);
  if (!flags || !watched.length) return new Promise<never>(() => {});
  return new Promise<never>((_resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => clearTimeout(timer);
    signal.addEventListener('abort', stop, { once: true });
    const tick = async () => {
      for (const flag of watched) {
        try {
          const now = await flags.get(flag);
          if (signal.aborted) return;
          if (!now.enabled) {
            const kill = (await flags.turnedOffSince?.(flag, markOf(record, flag) ?? null).catch(() => null)) ?? null;
            signal.removeEventListener('abort', stop);
            return reject(new FlagKilledError(flag, flags.environment, kill));
          }
        } catch {
          // An unreachable flag service is no evidence of a kill: read again at the next tick.
        }
      }
      if (!signal.aborted) timer = setTimeout(() => void tick(), everyMs);
    };
    timer = setTimeout(() => void tick(), everyMs);
  });
}

/** How often a bake reads its flags back (real time). */
export const KILL_POLL_MS = 500;

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
    // The mark comes first: a kill between it and the read below is caught at the write.
    await remember(record, step.flag, flags);
    const before = await flags.get(step.flag);
    record.flags = { ...record.flags, [step.flag]: { before } };
    await deps.save();
  } else if (markOf(record, step.flag) === undefined) {
    // A run resumed by `zdd promote`: its mark was not kept; the state check below covers the gap.
    await remember(record, step.flag, flags);
  }
  const rec = record.flags![step.flag]!;
  // (Not at the first write of a run: `before` was read just now.)
  const off = step.action === 'rollout' && entry ? await turnedOffBehindZdd(flags, step.flag, rec.last ?? rec.before) : 'no';
  if (off === 'yes') {
    // Someone pulled the kill switch since zdd's last write: never turn it back on.
    throw new FlagKilledError(step.flag, flags.environment, (await flags.turnedOffSince?.(step.flag, markOf(record, step.flag) ?? null).catch(() => null)) ?? null);
  }
  if (off === 'unsure') {
    throw new CheckFailedError(
      `Flag "${step.flag}" is off in ${flags.environment} but not as zdd last recorded it: a run killed between its writes left it so, or the kill switch was pulled after a write zdd had not recorded yet. To be safe the release stops here and rolls back, keeping the flag off`,
      'If nobody turned it off on purpose, run `zdd release` again.',
    );
  }
  rec.last =
    step.action === 'off'
      ? await flags.kill(step.flag)
      : await flags.set(step.flag, rolloutSetting(deps.release, step.percent ?? 0), flags.changeMark ? { since: markOf(record, step.flag) ?? null } : undefined);
  await remember(record, step.flag, flags);
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
