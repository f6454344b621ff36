import { ProviderError, errorMessage } from '../core/errors.js';
import { flagDifferences, fullSetting, readBackError, type FlagConstraint, type FlagProvider, type FlagSetting, type FlagState } from './flag-provider.js';
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
}

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

  /** The flag's state plus zdd's own strategy, from one GET. */
  private async read(flag: string): Promise<{ state: FlagState; mine?: UnleashStrategy }> {
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
    return { state, mine };
  }

  async set(flag: string, setting: FlagSetting): Promise<FlagState> {
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
    if (!before.enabled && want.enabled) await write('turning on', 'POST', `${this.envPath(flag)}/on`);
    const after = await step(() => this.get(flag));
    const diffs = flagDifferences(after, want);
    if (diffs.length) throw readBackError(this, flag, diffs);
    return after;
  }

  async close(): Promise<void> {
    this.http.close();
  }

  async kill(flag: string): Promise<FlagState> {
    await this.call(flag, 'turning off', 'POST', `${this.envPath(flag)}/off`);
    const after = await this.get(flag).catch((e: unknown) => {
      throw e instanceof ProviderError ? new ProviderError(e.message, { hint: e.hint, changed: true, code: e.code, cause: e }) : e;
    });
    if (after.enabled) throw readBackError(this, flag, ['enabled true (wanted false)']);
    return after;
  }

  private featurePath(flag: string): string {
    return `/api/admin/projects/${encodeURIComponent(this.project)}/features/${encodeURIComponent(flag)}`;
  }

  private envPath(flag: string): string {
    return `${this.featurePath(flag)}/environments/${encodeURIComponent(this.environment)}`;
  }

  private where(flag: string): string {
    return `flag "${flag}" in Unleash environment "${this.environment}" (project "${this.project}", ${this.base})`;
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
    return new ProviderError(`Flag "${flag}" does not exist in Unleash project "${this.project}" (environment "${this.environment}", ${this.base}): ${serverSays}`, {
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
