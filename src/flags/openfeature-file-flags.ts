import { readFile } from 'node:fs/promises';
import { ProviderError, errorMessage } from '../core/errors.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { flagDifferences, fullSetting, readBackError, type FlagConstraint, type FlagProvider, type FlagSetting, type FlagState } from './flag-provider.js';

/**
 * A flagd flag definition file (the OpenFeature standard format) that flagd, or an in-process flagd
 * provider, watches. zdd rewrites one flag's `state` and `targeting` atomically (temp file + rename,
 * so a watcher never reads half a file) and leaves every other flag and field as it was.
 *
 * The rollout is written as flagd `fractional` targeting over the flag's boolean variants:
 * `{ fractional: [ { cat: [groupId, { var: stickiness }] }, [on, r], [off, 100 - r] ] }`, wrapped
 * in `{ if: [constraints, …, off] }` when there are constraints. Off is `state: "DISABLED"`.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, Json>;
  defaultVariant: string | null;
  targeting?: Json;
  [k: string]: unknown;
}

interface FlagdFile {
  flags: Record<string, FlagdFlag>;
  [k: string]: unknown;
}

interface Rollout {
  rollout: number | null;
  stickiness: string;
  groupId: string;
  constraints: FlagConstraint[];
}

export class OpenFeatureFileFlagProvider implements FlagProvider {
  readonly name = 'openfeature-file';
  readonly environment: string;

  constructor(private readonly path: string) {
    this.environment = `flag file ${path}`;
  }

  async get(flag: string): Promise<FlagState> {
    const { def } = await this.load(flag);
    return this.stateOf(flag, def);
  }

  async set(flag: string, setting: FlagSetting): Promise<FlagState> {
    const want = fullSetting(flag, setting);
    const { file, def } = await this.load(flag);
    this.stateOf(flag, def);
    const { on, off } = this.variants(flag, def);
    def.state = want.enabled ? 'ENABLED' : 'DISABLED';
    if (want.rollout === null) delete def.targeting;
    else def.targeting = toTargeting(want, on, off);
    await this.write(flag, file);
    const after = await this.get(flag).catch((e: unknown) => {
      throw e instanceof ProviderError ? new ProviderError(e.message, { hint: e.hint, changed: true, code: e.code, cause: e }) : e;
    });
    const diffs = flagDifferences(after, want);
    if (diffs.length) throw readBackError(this, flag, diffs);
    return after;
  }

  async kill(flag: string): Promise<FlagState> {
    const { file, def } = await this.load(flag);
    def.state = 'DISABLED';
    await this.write(flag, file);
    const after = await this.get(flag);
    if (after.enabled) throw readBackError(this, flag, ['enabled true (wanted false)']);
    return after;
  }

  private async load(flag: string): Promise<{ file: FlagdFile; def: FlagdFlag }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      throw new ProviderError(`Cannot read the flag file ${this.path} for flag "${flag}": ${errorMessage(e)}`, {
        code: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'flag-not-found' : 'flag-provider',
        hint: 'Check flags.path (relative to the config file); zdd edits an existing flagd flag definition file, it does not create one.',
      });
    }
    let file: FlagdFile;
    try {
      file = JSON.parse(text) as FlagdFile;
    } catch (e) {
      throw new ProviderError(`The flag file ${this.path} is not valid JSON (${errorMessage(e)}), so flag "${flag}" cannot be read`, {
        code: 'flag-provider',
        hint: 'Fix the file: it must be a flagd flag definition ({ "flags": { … } }).',
      });
    }
    const def = file?.flags?.[flag];
    if (!def || typeof def !== 'object') {
      throw new ProviderError(`Flag "${flag}" does not exist in the flag file ${this.path}`, {
        code: 'flag-not-found',
        hint: `Define it in the file first, with boolean variants, e.g. "${flag}": { "state": "DISABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off" }.`,
      });
    }
    return { file, def };
  }

  private async write(flag: string, file: FlagdFile): Promise<void> {
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`, 0o644);
    } catch (e) {
      throw new ProviderError(`Cannot write the flag file ${this.path} for flag "${flag}": ${errorMessage(e)}`, {
        code: 'flag-provider',
        hint: 'Check that the directory is writable by this user; the file was left as it was (writes are atomic).',
      });
    }
  }

  private variants(flag: string, def: FlagdFlag): { on: string; off: string } {
    const entries = Object.entries(def.variants ?? {});
    const on = entries.find(([, v]) => v === true)?.[0];
    const off = entries.find(([, v]) => v === false)?.[0];
    if (!on || !off) {
      throw new ProviderError(`Flag "${flag}" in ${this.path} needs one variant that is true and one that is false`, {
        code: 'flag-provider',
        hint: 'zdd ramps boolean flags: give it variants like { "on": true, "off": false }.',
      });
    }
    return { on, off };
  }

  private stateOf(flag: string, def: FlagdFlag): FlagState {
    const { on, off } = this.variants(flag, def);
    const r = fromTargeting(def.targeting, on, off, flag);
    if (!r) {
      throw new ProviderError(`Flag "${flag}" in ${this.path} has targeting that zdd did not write`, {
        code: 'flag-provider',
        hint: 'zdd owns the targeting of the flags it releases; remove the targeting (or use another flag) before ramping it with zdd.',
      });
    }
    return { flag, environment: this.environment, enabled: def.state === 'ENABLED', ...r };
  }
}

function contextVar(stickiness: string): string {
  return stickiness === 'default' ? 'targetingKey' : stickiness;
}

function toTargeting(want: Required<FlagSetting>, on: string, off: string): Json {
  const r = want.rollout ?? 0;
  const fractional: Json = { fractional: [{ cat: [want.groupId, { var: contextVar(want.stickiness) }] }, [on, r], [off, 100 - r]] };
  if (!want.constraints.length) return fractional;
  const conds: Json[] = want.constraints.map((c) => {
    const isIn: Json = { in: [{ var: c.contextName }, c.values] };
    return c.operator === 'IN' ? isIn : { '!': isIn };
  });
  return { if: [conds.length === 1 ? conds[0]! : { and: conds }, fractional, off] };
}

/** The inverse of toTargeting; null when the targeting has another shape. */
function fromTargeting(t: Json | undefined, on: string, off: string, flag: string): Rollout | null {
  if (t === undefined || t === null || (typeof t === 'object' && !Array.isArray(t) && Object.keys(t).length === 0)) {
    return { rollout: null, stickiness: 'default', groupId: flag, constraints: [] };
  }
  if (!isObject(t)) return null;
  let constraints: FlagConstraint[] = [];
  let frac: Json = t;
  if (Array.isArray(t.if)) {
    const [cond, then, otherwise] = t.if;
    if (t.if.length !== 3 || otherwise !== off || !isObject(cond)) return null;
    const parts = Array.isArray(cond.and) ? cond.and : [cond];
    const parsed = parts.map(fromCondition);
    if (parsed.some((p) => !p)) return null;
    constraints = parsed as FlagConstraint[];
    frac = then ?? null;
  }
  if (!isObject(frac) || !Array.isArray(frac.fractional) || frac.fractional.length !== 3) return null;
  const [bucket, onPart, offPart] = frac.fractional;
  if (!isObject(bucket) || !Array.isArray(bucket.cat) || bucket.cat.length !== 2) return null;
  const [groupId, key] = bucket.cat;
  if (typeof groupId !== 'string' || !isObject(key) || typeof key.var !== 'string') return null;
  if (!Array.isArray(onPart) || !Array.isArray(offPart) || onPart[0] !== on || offPart[0] !== off) return null;
  const r = onPart[1];
  if (typeof r !== 'number' || offPart[1] !== 100 - r) return null;
  return { rollout: r, stickiness: key.var === 'targetingKey' ? 'default' : key.var, groupId, constraints };
}

function fromCondition(c: Json): FlagConstraint | null {
  if (!isObject(c)) return null;
  const negated = isObject(c['!']);
  const inner = negated ? (c['!'] as { [k: string]: Json }) : c;
  if (!Array.isArray(inner.in) || inner.in.length !== 2) return null;
  const [v, values] = inner.in;
  if (!isObject(v) || typeof v.var !== 'string' || !Array.isArray(values) || !values.every((x) => typeof x === 'string')) return null;
  return { contextName: v.var, operator: negated ? 'NOT_IN' : 'IN', values: values as string[] };
}

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
