import { ProviderError } from '../core/errors.js';

/**
 * Feature flags, as zdd sees them: one flag in one environment of a flag service, with one gradual
 * rollout that zdd owns (a percentage of the audience, sticky on a context field, bucketed by a
 * group id, optionally limited by constraints). Anything else on the flag is the user's and is
 * left alone.
 */

/** Limit the rollout to requests whose context field is (IN) or is not (NOT_IN) one of `values`. */
export interface FlagConstraint {
  contextName: string;
  operator: 'IN' | 'NOT_IN';
  values: string[];
}

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

/** A flag as its service reports it, read back from the service itself (never from zdd's records). */
export interface FlagState {
  flag: string;
  /** Where the flag lives: Unleash environment name, or the flag file's path. */
  environment: string;
  enabled: boolean;
  /** zdd's rollout percentage, or null when the flag has no rollout written by zdd. */
  rollout: number | null;
  stickiness: string;
  groupId: string;
  constraints: FlagConstraint[];
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
  /** Write `setting` (exposure only grows after the rollout is in place), then read it back and fail if it differs. */
  set(flag: string, setting: FlagSetting): Promise<FlagState>;
  /** The kill switch: turn the flag off with one write, then read it back. Leaves the rollout as it was. */
  kill(flag: string): Promise<FlagState>;
  /** Release clients and timers. */
  close?(): Promise<void>;
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
