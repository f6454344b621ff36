/** What a masked secret looks like in output and state. */
export const MASKED = '***';

/**
 * Values that must never reach output or state (promise 12), and the masking of them: every
 * event, record and log line passes through `mask` before it is written anywhere.
 */
export class SecretMask {
  /** Longest first, so a secret that contains another is masked whole. */
  private secrets: string[] = [];

  /** Add a value to mask everywhere; empty and very short values are ignored (they would mask ordinary text). */
  add(value: string | undefined | null, minLength = 4): void {
    if (typeof value !== 'string' || value.length < minLength || value === MASKED || this.secrets.includes(value)) return;
    this.secrets.push(value);
    this.secrets.sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  /** The text with every secret replaced by ***. */
  mask(text: string): string {
    let out = text;
    // Stryker disable next-line ConditionalExpression: split/join leaves text without the secret as it was; the check only saves work
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASKED);
    return out;
  }

  /** A copy of a JSON-like value with every string masked (the value itself when nothing is secret). */
  maskDeep<T>(value: T): T {
    if (this.secrets.length === 0) return value;
    return this.walk(value) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.mask(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    // Stryker disable next-line ConditionalExpression: only a plain object has Object.prototype as its prototype, whatever typeof says (null is caught by `v &&`)
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.walk(x)]));
    }
    return v;
  }
}

/** Header names whose values are never secret (anything else, Authorization above all, is masked). */
const PLAIN_HEADERS = new Set(['accept', 'accept-encoding', 'accept-language', 'content-type', 'user-agent', 'cache-control', 'host', 'connection']);

/** Environment variables whose names say they hold a secret. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|SESSION|COOKIE|SIGNATURE|DSN|(^|_)PASS$)/i;

/** Environment variables that are never secret and whose values are common text (paths, names). */
const PLAIN_ENV = /^(PATH|HOME|PWD|OLDPWD|SHELL|USER|LOGNAME|USERNAME|HOSTNAME|TMPDIR|TMP|TEMP|LANG|LANGUAGE|TERM|TERM_PROGRAM|COLORTERM|EDITOR|VISUAL|PAGER|SHLVL|NODE|INIT_CWD|LC_\w+|XDG_\w+|npm_\w+|CI|GITHUB_(WORKSPACE|ACTION_PATH|REPOSITORY|REF|SHA|SERVER_URL|RUN_ID|ACTOR|EVENT_NAME|STEP_SUMMARY|OUTPUT|ENV|PATH|ACTIONS)|RUNNER_\w+|AWS_(REGION|DEFAULT_REGION|PROFILE|ENDPOINT_URL))$/;

/** Config keys whose strings are commands or addresses: an environment value found in one is masked. */
const COMMAND_KEYS = new Set(['run', 'command', 'url', 'address', 'endpoint']);

/** Minimum length of an environment value found inside a command before it is masked. */
const ENV_IN_CONFIG_MIN = 8;

/**
 * The secrets a loaded config carries, for a SecretMask:
 * - values of every `headers` map (Prometheus auth, HTTP check headers), except plain ones (Accept…);
 * - values of every `env` map (passed to hooks, checks, instances) whose name says secret, or that
 *   came from the environment, or that look like a key (16+ characters with letters and digits);
 * - the password of any URL with credentials in it (`https://user:pass@host`);
 * - any value of the environment found inside a command or URL of the config (one built with
 *   `process.env.X` in deploy.config.ts), but `flags.url`, and every environment variable whose name says secret;
 * - the flag service's token (the variable `flags.tokenEnv` names).
 */
export function configSecrets(config: unknown, env: NodeJS.ProcessEnv = process.env, mask = new SecretMask()): SecretMask {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: an empty value would be dropped by SecretMask.add's minimum length anyway
  const envValues = Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].length > 0);
  const fromEnv = new Set(envValues.filter(([k]) => !PLAIN_ENV.test(k)).map(([, v]) => v));
  for (const [k, v] of envValues) if (SECRET_NAME.test(k) && !PLAIN_ENV.test(k)) mask.add(v);

  // Stryker disable next-line ArrayDeclaration: a stray placeholder string holds no environment value
  const commands: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, key: string | undefined, inCommand = false): void => {
    if (typeof v === 'string') {
      if (inCommand || COMMAND_KEYS.has(key ?? '')) commands.push(v);
      return;
    }
    if (!v || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) return v.forEach((x) => walk(x, undefined, inCommand || COMMAND_KEYS.has(key ?? '')));
    const entries = Object.entries(v as Record<string, unknown>);
    if (key === 'headers') {
      // Stryker disable next-line ConditionalExpression: SecretMask.add ignores non-strings and the scheme regex finds nothing in them
      for (const [name, value] of entries) if (typeof value === 'string' && !PLAIN_HEADERS.has(name.toLowerCase())) addHeader(mask, value);
    }
    if (key === 'env') {
      for (const [name, value] of entries) {
        // Stryker disable next-line ConditionalExpression: a non-string value is ignored by SecretMask.add, is no environment value and has no length
        if (typeof value !== 'string') continue;
        if (SECRET_NAME.test(name) || fromEnv.has(value) || looksLikeKey(value)) mask.add(value);
      }
    }
    for (const [k, x] of entries) walk(x, k);
  };
  walk(config, undefined);

  // The flag service's address is no secret (its token is, in `tokenEnv`): taken from the
  // environment, it is shown as it is, but for the credentials it may carry.
  const flags = (config as { flags?: { url?: unknown; tokenEnv?: unknown } } | null)?.flags;
  const plainAddress = typeof flags?.url === 'string' ? flags.url : undefined;
  mask.add(env[typeof flags?.tokenEnv === 'string' ? flags.tokenEnv : 'UNLEASH_ADMIN_TOKEN']);
  for (const s of commands) {
    if (s !== plainAddress) for (const v of fromEnv) if (v.length >= ENV_IN_CONFIG_MIN && s.includes(v)) mask.add(v);
    // Stryker disable next-line Regex: the scheme is not anchored, so one letter before :// already matches; the password capture is what counts
    for (const m of s.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:([^@\s/]+)@/gi)) mask.add(m[1], 1);
  }
  return mask;
}

/** `Bearer abc…`: mask the whole value and the credential alone (it may appear without its scheme). */
function addHeader(mask: SecretMask, value: string): void {
  mask.add(value);
  const m = /^\s*(?:Bearer|Basic|Token|Digest|ApiKey)\s+(.+)$/i.exec(value);
  if (m) mask.add(m[1].trim());
}

function looksLikeKey(v: string): boolean {
  return v.length >= 16 && /[a-z]/i.test(v) && /\d/.test(v) && !/\s/.test(v);
}
