import { InterruptedError, ProviderError } from '../core/errors.js';
import type { FlagConstraint, FlagState } from '../core/flag-state.js';

export type { FlagConstraint, FlagState } from '../core/flag-state.js';

/**
 * Feature flags, as zdd sees them: one flag in one environment of a flag service, with one gradual
 * rollout that zdd owns (a percentage of the audience, sticky on a context field, bucketed by a
 * group id, optionally limited by constraints). Anything else on the flag is the user's and is
 * left alone.
 */

/** What zdd writes to a flag. */
export interface FlagSetting {
  /** The flag is on in the environment. Off wins over any rollout. */
  enabled: boolean;
  /** Percent of the audience that gets the flag, 0–100; null removes zdd's rollout altogether. */
  rollout: number | null;
  /** Context field the bucketing sticks to (`default`: userId, then sessionId, then random). */
  stickiness?: string;
  /** Seed of the bucketing; the same group id puts a user in the same bucket across flags. Default: the flag name. */
  groupId?: string;
  constraints?: FlagConstraint[];
}

/**
 * A flag service. Every error is a ProviderError whose message names the flag and the environment;
 * `changed: false` (exit 5) when it failed before any write. Credentials never appear in messages.
 */
export interface FlagProvider {
  readonly name: string;
  /** Where writes land (environment or file), named in every message. */
  readonly environment: string;
  /** Read the flag from the service; a missing flag, refused token or unreachable service is an error. */
  get(flag: string): Promise<FlagState>;
  /**
   * Write `setting` (exposure only grows after the rollout is in place), then read it back and fail if it differs.
   * With `guard`, a turn-on loses to any kill since `guard.since` (a mark from `changeMark`): the flag ends off and
   * the call throws FlagKilledError, whatever the interleaving of the two writes.
   */
  set(flag: string, setting: FlagSetting, guard?: KillGuard): Promise<FlagState>;
  /** The kill switch: turn the flag off with one write, then read it back. Leaves the rollout as it was. */
  kill(flag: string): Promise<FlagState>;
  /** Release clients and timers. */
  close?(): Promise<void>;
  /** An opaque mark of the flag's change history now (Unleash: its newest event id); null when it has none. */
  changeMark?(flag: string): Promise<string | null>;
  /** The flag turned off in this environment after `mark` (who and when, as the service tells), or null. */
  turnedOffSince?(flag: string, mark: string | null): Promise<FlagKill | null>;
  /** Before any change: what the setting needs exists (project, environment, context fields); ProviderError (exit 5) naming what is missing. */
  preflight?(flag: string, setting: FlagSetting): Promise<void>;
  /** Rules of the flag that are not zdd's and are active: the service ORs them with zdd's rollout whenever the flag is on. */
  otherRules?(flag: string): Promise<OtherRule[]>;
}

/** A kill the service has evidence of: who turned the flag off and when, as far as it tells. */
export interface FlagKill {
  by?: string;
  at?: string;
}

/** `since`: the flag's change mark when zdd last knew it (read or verified it); a kill after that wins. */
export interface KillGuard {
  since: string | null;
}

/** Another rule on the flag (a strategy zdd does not own) and the share of users it gives the flag. */
export interface OtherRule {
  /** e.g. `"beta testers" (flexibleRollout)` */
  name: string;
  /** e.g. `33% where region in [eu]`, `users [alice, bob]`, `100%` */
  share: string;
}

/** `"beta testers" (flexibleRollout): 33%; "staff" (default): 100% where userId in [alice]` */
export function describeOtherRules(rules: OtherRule[]): string {
  return rules.map((r) => `${r.name}: ${r.share}`).join('; ');
}

/** `by admin at 2026-12-03T16:40:01Z` (what the service told), or `` when it told nothing. */
export function describeKill(kill: FlagKill | null | undefined): string {
  if (!kill) return '';
  return `${kill.by ? ` by ${kill.by}` : ''}${kill.at ? ` at ${kill.at}` : ''}`;
}

/**
 * The run's flag was turned off by someone else (`zdd flag kill`, the flag service's own UI): the run
 * stops at once and rolls back, keeping the flag off. An interruption by a person (exit 130), as `zdd abort` is.
 */
export class FlagKilledError extends InterruptedError {
  constructor(
    readonly flag: string,
    readonly environment: string,
    readonly kill: FlagKill | null,
  ) {
    super(`the kill switch: flag "${flag}" was turned off in ${environment}${describeKill(kill)}`);
    this.name = 'FlagKilledError';
  }
}

/** The setting that reproduces `state` exactly (what a rollback writes back). */
export function settingOf(state: FlagState): Required<FlagSetting> {
  return { enabled: state.enabled, rollout: state.rollout, stickiness: state.stickiness, groupId: state.groupId, constraints: state.constraints };
}

/** Fills a setting's defaults for `flag`. */
export function fullSetting(flag: string, s: FlagSetting): Required<FlagSetting> {
  return {
    enabled: s.enabled,
    rollout: s.rollout,
    stickiness: s.stickiness ?? 'default',
    groupId: s.groupId ?? flag,
    constraints: s.constraints ?? [],
  };
}

/** Fields of `actual` that differ from `wanted`, e.g. `["rollout 10 (wanted 50)"]`; empty when it matches. */
export function flagDifferences(actual: FlagState, wanted: Required<FlagSetting>): string[] {
  const diffs: string[] = [];
  if (actual.enabled !== wanted.enabled) diffs.push(`enabled ${actual.enabled} (wanted ${wanted.enabled})`);
  if (actual.rollout !== wanted.rollout) diffs.push(`rollout ${actual.rollout ?? 'none'} (wanted ${wanted.rollout ?? 'none'})`);
  // Stickiness, group and constraints only mean something while zdd's rollout exists.
  if (wanted.rollout !== null) {
    if (actual.stickiness !== wanted.stickiness) diffs.push(`stickiness "${actual.stickiness}" (wanted "${wanted.stickiness}")`);
    if (actual.groupId !== wanted.groupId) diffs.push(`groupId "${actual.groupId}" (wanted "${wanted.groupId}")`);
    if (constraintKey(actual.constraints) !== constraintKey(wanted.constraints)) diffs.push(`constraints ${constraintKey(actual.constraints)} (wanted ${constraintKey(wanted.constraints)})`);
  }
  return diffs;
}

function constraintKey(cs: FlagConstraint[]): string {
  return JSON.stringify(cs.map((c) => [c.contextName, c.operator, [...c.values].sort()]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
}

/** One line: `on, 25% sticky on userId where region in [eu]` / `off (rollout 25% kept)` / `off`. */
export function describeFlagState(s: Pick<FlagState, 'enabled' | 'rollout' | 'stickiness' | 'constraints'>): string {
  const only = s.constraints.length ? ` where ${s.constraints.map((c) => `${c.contextName} ${c.operator === 'IN' ? 'in' : 'not in'} [${c.values.join(', ')}]`).join(' and ')}` : '';
  const rollout = s.rollout === null ? null : `${s.rollout}%${s.stickiness !== 'default' ? ` sticky on ${s.stickiness}` : ''}${only}`;
  if (s.enabled) return rollout ? `on, ${rollout}` : 'on (no zdd rollout)';
  return rollout ? `off (rollout ${rollout} kept)` : 'off';
}

/** The read-back after a write did not match: production may have changed. */
export function readBackError(provider: FlagProvider, flag: string, diffs: string[]): ProviderError {
  return new ProviderError(`Flag "${flag}" in ${provider.environment} did not read back as written: ${diffs.join(', ')}`, {
    changed: true,
    code: 'flag-read-back',
    hint: `Something else changed the flag at the same time, or the ${provider.name} service did not apply the write. Check it with \`zdd flag get ${flag}\`.`,
  });
}
