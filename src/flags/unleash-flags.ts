import { ProviderError, errorMessage } from '../core/errors.js';
import { FlagKilledError, flagDifferences, fullSetting, readBackError, type FlagConstraint, type FlagKill, type FlagProvider, type FlagSetting, type FlagState, type KillGuard, type OtherRule } from './flag-provider.js';
import { HttpJsonClient } from './http-json.js';
import type { UnleashFlagsConfig } from './schema.js';

/**
 * Unleash through its Admin API. zdd owns one `flexibleRollout` strategy per flag and environment,
 * recognised by its title; other strategies on the flag are the user's and are never touched.
 */

/** Title of the strategy zdd owns on a flag. */
export const ZDD_STRATEGY_TITLE = 'zdd rollout';

interface UnleashStrategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean | null;
  parameters?: Record<string, string>;
  constraints?: { contextName: string; operator: string; values?: string[]; inverted?: boolean }[];
  segments?: number[];
}

/** One entry of Unleash's event log for a flag (`GET /api/admin/events/{flag}`, newest first). */
interface UnleashEvent {
  id: number;
  type: string;
  environment?: string | null;
  createdBy?: string | null;
  createdAt?: string;
  data?: { value?: string } | null;
}

/** The event Unleash logs when a flag is turned off in an environment (UI, API, `zdd flag kill`). */
const DISABLED_EVENT = 'feature-environment-disabled';
/** The event of zdd's kill marker (a tag added and removed at once). */
const TAGGED_EVENT = 'feature-tagged';

interface UnleashFeature {
  name: string;
  environments: { name: string; enabled: boolean; strategies: UnleashStrategy[] }[];
}

/** Why a call is made, for messages: "reading", "turning off" … */
type Doing = string;

export class UnleashFlagProvider implements FlagProvider {
  readonly name = 'unleash';
  readonly environment: string;
  private readonly base: string;
  private readonly project: string;
  private readonly tokenEnv: string;
  private readonly timeoutMs: number;
  private readonly http = new HttpJsonClient();

  constructor(config: UnleashFlagsConfig, private readonly env: NodeJS.ProcessEnv = process.env) {
    this.base = config.url.replace(/\/+$/, '');
    this.project = config.project ?? 'default';
    this.environment = config.environment ?? 'production';
    this.tokenEnv = config.tokenEnv ?? 'UNLEASH_ADMIN_TOKEN';
    this.timeoutMs = config.timeout ?? 5000;
  }

  async get(flag: string): Promise<FlagState> {
    return (await this.read(flag)).state;
  }

  /** The flag's state plus zdd's own strategy and the user's active ones, from one GET. */
  private async read(flag: string): Promise<{ state: FlagState; mine?: UnleashStrategy; others: UnleashStrategy[] }> {
    const feature = await this.call<UnleashFeature>(flag, 'reading', 'GET', this.featurePath(flag));
    const env = feature.environments.find((e) => e.name === this.environment);
    if (!env) throw this.unknownEnvironment(flag, feature.environments.map((e) => e.name));
    const mine = env.strategies.find((s) => s.title === ZDD_STRATEGY_TITLE);
    const state: FlagState = {
      flag,
      environment: this.environment,
      enabled: env.enabled,
      rollout: mine && !mine.disabled ? Number(mine.parameters?.rollout ?? 0) : null,
      stickiness: mine?.parameters?.stickiness ?? 'default',
      groupId: mine?.parameters?.groupId ?? flag,
      constraints: (mine?.constraints ?? []).map(fromUnleashConstraint),
    };
    return { state, mine, others: env.strategies.filter((s) => s !== mine && !s.disabled) };
  }

  async otherRules(flag: string): Promise<OtherRule[]> {
    return (await this.read(flag)).others.map(describeStrategy);
  }

  /** The newest event id of the flag: every change in Unleash (UI, API, another zdd) logs one. */
  async changeMark(flag: string): Promise<string | null> {
    const events = await this.events(flag);
    return events.length ? String(Math.max(...events.map((e) => e.id))) : null;
  }

  async turnedOffSince(flag: string, mark: string | null): Promise<FlagKill | null> {
    const after = mark === null ? -1 : Number(mark);
    const off = (await this.events(flag))
      .filter((e) => e.id > after && ((e.type === DISABLED_EVENT && e.environment === this.environment) || (e.type === TAGGED_EVENT && e.data?.value === this.killTag)))
      .sort((a, b) => b.id - a.id)[0];
    return off ? { ...(off.createdBy ? { by: off.createdBy } : {}), ...(off.createdAt ? { at: off.createdAt } : {}) } : null;
  }

  /** The flag's last 100 events, as Unleash logs them. */
  private async events(flag: string): Promise<UnleashEvent[]> {
    const answer = await this.call<{ events?: UnleashEvent[] }>(flag, 'reading the change log of', 'GET', `/api/admin/events/${encodeURIComponent(flag)}`);
    return answer?.events ?? [];
  }

  /**
   * Before any change: the project, the environment and every context field the rollout names exist.
   * Unleash would only refuse them at the write (the rollout half done), as a 404 that names no fix.
   */
  async preflight(flag: string, setting: FlagSetting): Promise<void> {
    const missing: string[] = [];
    const fixes: string[] = [];
    const projects = await this.call<{ projects?: { id: string }[] }>(flag, 'listing the projects for', 'GET', '/api/admin/projects');
    if (projects?.projects && !projects.projects.some((p) => p.id === this.project)) {
      missing.push(`project "${this.project}"`);
      fixes.push(`create the project in Unleash (Projects → New project) or set flags.project to one of: ${projects.projects.map((p) => p.id).join(', ')}`);
    }
    const envs = await this.call<{ environments?: { name: string; enabled?: boolean }[] }>(flag, 'listing the environments for', 'GET', '/api/admin/environments');
    if (envs?.environments && !envs.environments.some((e) => e.name === this.environment && e.enabled !== false)) {
      missing.push(`environment "${this.environment}"`);
      fixes.push(`create or enable the environment in Unleash (Configure → Environments) and add it to project "${this.project}", or set flags.environment to one of: ${envs.environments.filter((e) => e.enabled !== false).map((e) => e.name).join(', ')}`);
    }
    const fields = [...new Set([...(setting.constraints ?? []).map((c) => c.contextName), ...(setting.stickiness && !BUILT_IN_STICKINESS.has(setting.stickiness) ? [setting.stickiness] : [])])];
    if (fields.length) {
      const context = await this.call<{ name: string }[]>(flag, 'listing the context fields for', 'GET', '/api/admin/context');
      const known = new Set((context ?? []).map((c) => c.name));
      const absent = fields.filter((f) => !known.has(f));
      if (absent.length) {
        missing.push(`context field${absent.length === 1 ? '' : 's'} ${absent.map((f) => `"${f}"`).join(', ')}`);
        fixes.push(`create ${absent.length === 1 ? 'it' : 'them'} in Unleash (Configure → Context fields → New context field${setting.stickiness && absent.includes(setting.stickiness) ? ', with "custom stickiness" on for the stickiness field' : ''}), or change flags.release.constraints / stickiness`);
      }
    }
    if (missing.length) {
      throw new ProviderError(`Unleash at ${withoutCredentials(this.base)} has no ${missing.join(', no ')}, which releasing flag "${flag}" needs. Nothing was changed.`, {
        code: 'flag-not-found',
        hint: `${fixes.map((f) => f[0]!.toUpperCase() + f.slice(1)).join('. ')}.`,
      });
    }
  }

  async set(flag: string, setting: FlagSetting, guard?: KillGuard): Promise<FlagState> {
    const want = fullSetting(flag, setting);
    const { state: before, mine } = await this.read(flag);
    let wrote = false;
    // After the first write, any failure may have left production changed.
    const step = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (e) {
        if (wrote && e instanceof ProviderError && !e.changed) throw new ProviderError(e.message, { hint: e.hint, changed: true, code: e.code, cause: e });
        throw e;
      }
    };
    const write = (doing: Doing, method: string, path: string, body?: unknown) =>
      step(async () => {
        try {
          await this.call(flag, doing, method, path, body);
        } catch (e) {
          // A refused write (4xx) did not apply; a timed-out one may have.
          if (e instanceof ProviderError && e.code === 'flag-unreachable') wrote = true;
          throw e;
        }
        wrote = true;
      });
    // Exposure never grows in between: turn off before touching the rollout, turn on after it.
    if (before.enabled && !want.enabled) await write('turning off', 'POST', `${this.envPath(flag)}/off`);
    if (want.rollout === null) {
      if (mine) await write('removing the zdd rollout of', 'DELETE', `${this.envPath(flag)}/strategies/${encodeURIComponent(mine.id)}`);
    } else {
      const body = {
        name: 'flexibleRollout',
        title: ZDD_STRATEGY_TITLE,
        disabled: false,
        parameters: { rollout: String(want.rollout), stickiness: want.stickiness, groupId: want.groupId },
        constraints: want.constraints.map(toUnleashConstraint),
      };
      if (!mine) await write('adding the zdd rollout to', 'POST', `${this.envPath(flag)}/strategies`, body);
      else if (mine.disabled || flagDifferences(before, { ...want, enabled: before.enabled }).length) {
        await write('changing the rollout of', 'PUT', `${this.envPath(flag)}/strategies/${encodeURIComponent(mine.id)}`, body);
      }
    }
    // The kill switch wins any interleaving: a kill logged since zdd last knew the flag is looked for
    // before the turn-on (no write then) and after every write (the turn-on raced it: off again).
    if (!before.enabled && want.enabled) {
      if (guard) await step(() => this.refuseIfKilled(flag, guard, false));
      await write('turning on', 'POST', `${this.envPath(flag)}/on`);
    }
    if (guard && want.enabled) await step(() => this.refuseIfKilled(flag, guard, true));
    const after = await step(() => this.get(flag));
    const diffs = flagDifferences(after, want);
    if (diffs.length) throw readBackError(this, flag, diffs);
    return after;
  }

  /** Throws FlagKilledError when Unleash logged a turn-off since `guard.since`; with `turnOff`, turns the flag off first (one write, read back). */
  private async refuseIfKilled(flag: string, guard: KillGuard, turnOff: boolean): Promise<void> {
    const kill = await this.turnedOffSince(flag, guard.since);
    if (!kill) return;
    if (turnOff && (await this.get(flag)).enabled) await this.kill(flag);
    throw new FlagKilledError(flag, this.environment, kill);
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /**
   * Off, and beside it (in parallel: no slower) a kill marker in Unleash's event log: a tag added
   * and removed in one call, which logs an event even when the flag was already off (a release's
   * turn-on still in flight), where the turn-off itself logs none. A release that sees either
   * event after its read turns the flag off again and stops; the feature keeps no tag.
   */
  async kill(flag: string): Promise<FlagState> {
    const tag = { type: 'simple', value: this.killTag };
    await Promise.all([
      this.call(flag, 'turning off', 'POST', `${this.envPath(flag)}/off`),
      // The turn-off is what matters: a marker Unleash refuses (no "simple" tag type) costs only the evidence.
      this.call(flag, 'marking the kill of', 'PUT', `/api/admin/features/${encodeURIComponent(flag)}/tags`, { addedTags: [tag], removedTags: [tag] }).catch(() => undefined),
    ]);
    const after = await this.get(flag).catch((e: unknown) => {
      throw e instanceof ProviderError ? new ProviderError(e.message, { hint: e.hint, changed: true, code: e.code, cause: e }) : e;
    });
    if (after.enabled) throw readBackError(this, flag, ['enabled true (wanted false)']);
    return after;
  }

  /** The tag value of zdd's kill marker in this environment (see kill). */
  private get killTag(): string {
    return `zdd-kill-${this.environment}`;
  }

  private featurePath(flag: string): string {
    return `/api/admin/projects/${encodeURIComponent(this.project)}/features/${encodeURIComponent(flag)}`;
  }

  private envPath(flag: string): string {
    return `${this.featurePath(flag)}/environments/${encodeURIComponent(this.environment)}`;
  }

  private where(flag: string): string {
    return `flag "${flag}" in Unleash environment "${this.environment}" (project "${this.project}", ${withoutCredentials(this.base)})`;
  }

  private token(flag: string): string {
    const token = this.env[this.tokenEnv];
    if (!token) {
      throw new ProviderError(`No Unleash token for ${this.where(flag)}: the environment variable ${this.tokenEnv} is not set. Nothing changed.`, {
        code: 'flag-credentials',
        hint: `Set ${this.tokenEnv} to an Unleash admin API token (Admin settings → API access), or point flags.tokenEnv at the variable that holds one.`,
      });
    }
    return token;
  }

  /** One Admin API call; every failure becomes a ProviderError naming the flag and environment, never the token. */
  private async call<T = unknown>(flag: string, doing: Doing, method: string, path: string, body?: unknown): Promise<T> {
    const token = this.token(flag);
    let res: { status: number; text: string };
    try {
      res = await this.http.request(`${this.base}${path}`, {
        method,
        headers: { authorization: token, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.timeoutMs,
      });
    } catch (e) {
      throw new ProviderError(`Unleash is unreachable while ${doing} ${this.where(flag)}: ${errorMessage(e)}`, {
        code: 'flag-unreachable',
        cause: e,
        hint: 'Check flags.url and that the Unleash server is up and reachable from here; the flag was not changed by this call.',
      });
    }
    const text = res.text;
    if (res.status === 401 || res.status === 403) {
      throw new ProviderError(`Unleash refused the token in ${this.tokenEnv} (HTTP ${res.status}) while ${doing} ${this.where(flag)}`, {
        code: 'flag-credentials',
        hint: `${this.tokenEnv} must hold an admin API token with access to project "${this.project}" (Admin settings → API access); nothing was changed.`,
      });
    }
    if (res.status === 404) throw this.notFound(flag, unleashMessage(text));
    if (res.status < 200 || res.status >= 300) {
      throw new ProviderError(`Unleash answered HTTP ${res.status} while ${doing} ${this.where(flag)}: ${unleashMessage(text)}`, {
        code: 'flag-provider',
        hint: 'See the Unleash server log; nothing was changed by this call.',
      });
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ProviderError(`Unleash answered with something that is not JSON while ${doing} ${this.where(flag)}`, {
        code: 'flag-provider',
        hint: 'Check that flags.url points at the Unleash server itself, not a login page or proxy.',
      });
    }
  }

  private notFound(flag: string, serverSays: string): ProviderError {
    if (/context field/i.test(serverSays)) {
      return new ProviderError(`Unleash rejected a constraint on ${this.where(flag)}: ${serverSays}`, {
        code: 'flag-not-found',
        hint: 'Create the context field in Unleash (Configure → Context fields) or fix flags.release.constraints; nothing was changed.',
      });
    }
    if (/environment/i.test(serverSays)) {
      return new ProviderError(`Unleash has no environment "${this.environment}" for flag "${flag}" (project "${this.project}"): ${serverSays}`, {
        code: 'flag-not-found',
        hint: 'Set flags.environment to an environment enabled in the project.',
      });
    }
    return new ProviderError(`Flag "${flag}" does not exist in Unleash project "${this.project}" (environment "${this.environment}", ${withoutCredentials(this.base)}): ${serverSays}`, {
      code: 'flag-not-found',
      hint: 'Create the flag in Unleash first (zdd changes flags, it does not create them), or check the name and flags.project.',
    });
  }

  private unknownEnvironment(flag: string, known: string[]): ProviderError {
    return new ProviderError(`Unleash has no environment "${this.environment}" on flag "${flag}" (project "${this.project}")`, {
      code: 'flag-not-found',
      hint: `Set flags.environment to one of: ${known.join(', ') || '(none enabled in the project)'}.`,
    });
  }
}

/** Stickiness values every Unleash has without a context field of that name. */
const BUILT_IN_STICKINESS = new Set(['default', 'userId', 'sessionId', 'random']);

/** The URL with any `user:password@` replaced (promise 12: a URL in a message never carries credentials). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
}

/** A user's strategy and the share of users it gives the flag when the flag is on. */
function describeStrategy(s: UnleashStrategy): OtherRule {
  const p = s.parameters ?? {};
  const where = (s.constraints ?? []).map((c) => `${c.contextName} ${(c.operator === 'NOT_IN') !== !!c.inverted ? 'not in' : c.operator === 'IN' ? 'in' : c.operator} [${(c.values ?? []).join(', ')}]`);
  if (s.segments?.length) where.push(`segment${s.segments.length === 1 ? '' : 's'} ${s.segments.join(', ')}`);
  const percent = p.rollout ?? p.percentage;
  const base =
    s.name === 'default' ? '100%' : percent !== undefined ? `${percent}%` : p.userIds ? `users [${p.userIds}]` : p.IPs ? `addresses [${p.IPs}]` : p.hostNames ? `hosts [${p.hostNames}]` : 'some users';
  return { name: `${s.title ? `"${s.title}" ` : ''}(${s.name})`, share: `${base}${where.length ? ` where ${where.join(' and ')}` : ''}` };
}

function unleashMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { message?: string; details?: { message?: string }[] };
    return (j.details?.[0]?.message ?? j.message ?? text).slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
}

function toUnleashConstraint(c: FlagConstraint) {
  return { contextName: c.contextName, operator: c.operator, values: c.values, inverted: false, caseInsensitive: false };
}

function fromUnleashConstraint(c: { contextName: string; operator: string; values?: string[]; inverted?: boolean }): FlagConstraint {
  const operator = (c.operator === 'NOT_IN') !== !!c.inverted ? 'NOT_IN' : 'IN';
  return { contextName: c.contextName, operator, values: c.values ?? [] };
}
