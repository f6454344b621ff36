import { describe, expect, it } from 'vitest';
import { configSecrets, SecretMask } from '../../src/core/secret-mask.js';

describe('SecretMask', () => {
  it('masks every occurrence, longest secret first, in text and deep in JSON-like values', () => {
    const m = new SecretMask();
    m.add('abcd1234');
    m.add('Bearer abcd1234');
    expect(m.mask('h: Bearer abcd1234; again abcd1234')).toBe('h: ***; again ***');
    expect(m.maskDeep({ a: ['x abcd1234'], n: 3, b: { c: 'abcd1234' } })).toEqual({ a: ['x ***'], n: 3, b: { c: '***' } });
  });

  it('ignores values too short to be secrets (they would mask ordinary words)', () => {
    const m = new SecretMask();
    m.add('ab');
    m.add('');
    expect(m.size).toBe(0);
  });
});

describe('configSecrets: what a config carries that must never be shown', () => {
  const env = { PROM_TOKEN: 'tok-0123456789', HOME: '/home/ana', REGION_NAME: 'eu-west-1-x', PLAIN_VALUE: 'some-build-id-42' };

  it('header values (the credential alone too), but not plain headers like Accept', () => {
    const m = configSecrets({ gates: { a: { checks: [{ headers: { Authorization: 'Bearer sk-live-998877', Accept: 'application/json' } }] } } }, {});
    expect(m.mask('Bearer sk-live-998877 / sk-live-998877 / application/json')).toBe('*** / *** / application/json');
  });

  it('env values with a secret name, from the environment, or key-like; not plain words', () => {
    const m = configSecrets({ hooks: { preShift: { run: 'x', env: { DB_PASSWORD: 'hunter22', STAGE: 'production', ID: 'some-build-id-42', K: 'a1b2c3d4e5f6g7h8i9' } } } }, env);
    expect(m.mask('hunter22 production some-build-id-42 a1b2c3d4e5f6g7h8i9')).toBe('*** production *** ***');
  });

  it('environment values built into a command or URL, every secret-named variable, and URL passwords', () => {
    const m = configSecrets({ gates: { g: { checks: [{ run: 'curl -H "X: some-build-id-42" /home/ana/x', address: 'https://bob:pa55word@prom.example/' }] } } }, env);
    expect(m.mask('some-build-id-42 /home/ana tok-0123456789 pa55word eu-west-1-x')).toBe('*** /home/ana *** *** eu-west-1-x');
  });
});

describe('SecretMask: edges', () => {
  it('takes a value of exactly the minimum length, and ignores non-strings, *** itself and repeats', () => {
    const m = new SecretMask();
    m.add(undefined);
    m.add(null);
    m.add('***', 1);
    m.add('abcd');
    m.add('abcd');
    expect(m.size).toBe(1);
    expect(m.mask('abcd abc')).toBe('*** abc');
  });

  it('maskDeep hands back the value itself when nothing is secret, and leaves non-plain objects alone', () => {
    const value = { a: 'abcd1234' };
    expect(new SecretMask().maskDeep(value)).toBe(value);
    const m = new SecretMask();
    m.add('abcd1234');
    const when = new Date(0);
    const masked = m.maskDeep({ when, none: null, list: ['abcd1234'] });
    expect(masked.when).toBe(when);
    expect(masked.none).toBeNull();
    expect(masked.list).toEqual(['***']);
  });
});

describe('configSecrets: which names, keys and values count', () => {
  const hidden = (m: SecretMask, value: string) => m.mask(value) === '***';

  it.each(['API_TOKEN', 'APP_SECRET', 'DB_PASSWORD', 'PASSWD', 'GPG_PASSPHRASE', 'API_KEY', 'APIKEY', 'ACCESS_KEY', 'ACCESSKEY', 'PRIVATE_KEY', 'PRIVATEKEY', 'AWS_CREDENTIALS', 'BASIC_AUTH', 'SESSION_ID', 'COOKIE_JAR', 'SIGNATURE', 'SENTRY_DSN', 'DB_PASS', 'PASS', 'USER_TOKEN', 'db_password'])('an environment variable named %s is a secret', (name) => {
    expect(hidden(configSecrets({}, { [name]: 'value-of-it' }), 'value-of-it')).toBe(true);
  });

  it.each(['COMPASS', 'MY_PASSAGE', 'STAGE'])('an environment variable named %s is not (its value is common text)', (name) => {
    expect(hidden(configSecrets({}, { [name]: 'value-of-it' }), 'value-of-it')).toBe(false);
  });

  it.each(['PATH', 'HOME', 'PWD', 'OLDPWD', 'SHELL', 'USER', 'LOGNAME', 'USERNAME', 'HOSTNAME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LANGUAGE', 'TERM', 'TERM_PROGRAM', 'COLORTERM', 'EDITOR', 'VISUAL', 'PAGER', 'SHLVL', 'NODE', 'INIT_CWD', 'LC_MESSAGES', 'XDG_RUNTIME_DIR', 'npm_config_cache', 'CI', 'GITHUB_WORKSPACE', 'GITHUB_ACTION_PATH', 'GITHUB_REPOSITORY', 'GITHUB_REF', 'GITHUB_SHA', 'GITHUB_SERVER_URL', 'GITHUB_RUN_ID', 'GITHUB_ACTOR', 'GITHUB_EVENT_NAME', 'GITHUB_STEP_SUMMARY', 'GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_ACTIONS', 'RUNNER_TEMP', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL', 'XDG_SESSION_TYPE'])(
    "%s's value stays visible where a command uses it (paths and names, not secrets)",
    (name) => {
      const m = configSecrets({ hooks: { preShift: { run: 'cd /srv/plain-value-x && make' } } }, { [name]: '/srv/plain-value-x' });
      expect(m.mask('/srv/plain-value-x')).toBe('/srv/plain-value-x');
    },
  );

  it.each(['MY_HOME', 'PATH_TO_BUILD', 'LC_', 'RUNNER_'])('%s is not a plain variable: its value in a command is masked', (name) => {
    const m = configSecrets({ hooks: { preShift: { run: 'deploy --to value-from-env' } } }, { [name]: 'value-from-env' });
    expect(hidden(m, 'value-from-env')).toBe(true);
  });

  it.each(['run', 'command', 'url', 'address', 'endpoint'])('an environment value inside a config "%s" is masked; elsewhere it is ordinary text', (key) => {
    const env = { DEPLOY_TARGET: 'value-from-env' };
    expect(hidden(configSecrets({ x: { [key]: 'go value-from-env' } }, env), 'value-from-env')).toBe(true);
    expect(hidden(configSecrets({ x: { description: 'go value-from-env' } }, env), 'value-from-env')).toBe(false);
  });

  it('a command given as an argument list is a command too', () => {
    expect(hidden(configSecrets({ hooks: { preShift: { command: ['sh', '-c', 'echo value-from-env'] } } }, { X: 'value-from-env' }), 'value-from-env')).toBe(true);
  });

  it('a list elsewhere is not a command; empty values in the config are skipped', () => {
    const m = configSecrets({ tags: ['value-from-env'], notes: null, hooks: { preShift: { run: 'make', timeout: 5 } } }, { X: 'value-from-env' });
    expect(hidden(m, 'value-from-env')).toBe(false);
  });

  it('the credential after a scheme is masked alone even with spaces around it', () => {
    const m = configSecrets({ g: { headers: { Authorization: 'Bearer abcdefgh12 ' } } }, {});
    expect(m.mask('token abcdefgh12 used')).toBe('token *** used');
  });

  it('an environment value is masked inside a command from 8 characters on, not shorter (it would mask ordinary words)', () => {
    const env = { A: 'abcdefgh', B: 'abcdefg' };
    const m = configSecrets({ gates: { g: { checks: [{ run: 'echo abcdefgh; echo abcdefg' }] } } }, env);
    expect(m.mask('abcdefgh')).toBe('***');
    expect(m.mask('abcdefg')).toBe('abcdefg');
  });

  it('empty or missing environment values are skipped', () => {
    const m = configSecrets({ hooks: { preShift: { run: 'make' } } }, { API_TOKEN: '', OTHER: undefined });
    expect(m.size).toBe(0);
  });

  it.each(['accept', 'Accept-Encoding', 'accept-language', 'content-type', 'user-agent', 'cache-control', 'host', 'connection'])('the plain header %s is not masked', (name) => {
    const m = configSecrets({ g: { headers: { [name]: 'plain-header-value' } } }, {});
    expect(m.size).toBe(0);
  });

  it('any other header value is masked whole; the credential alone only after a known scheme at its start', () => {
    const m = configSecrets({ g: { headers: { 'X-Api-Key': 'k3y-abcdef-123', 'X-Note': 'MyToken abcdefgh12' } } }, {});
    expect(hidden(m, 'k3y-abcdef-123')).toBe(true);
    expect(hidden(m, 'MyToken abcdefgh12')).toBe(true);
    expect(m.mask('abcdefgh12')).toBe('abcdefgh12');
  });

  it('env values: key-like from 16 characters with letters and digits and no space; names only count in env maps', () => {
    const m = configSecrets(
      {
        hooks: { preShift: { env: { K16: 'a1b2c3d4e5f6g7h8', K15: 'a1b2c3d4e5f6g7h', LETTERS: 'abcdefghijklmnopqrst', DIGITS: '12345678901234567890', SPACED: 'a1b2c3d4 e5f6g7h8i9' } } },
        labels: { AUTH_MODE: 'oauth-proxy' },
      },
      {},
    );
    expect(m.mask('a1b2c3d4e5f6g7h8')).toBe('***');
    for (const plain of ['a1b2c3d4e5f6g7h', 'abcdefghijklmnopqrst', '12345678901234567890', 'a1b2c3d4 e5f6g7h8i9', 'oauth-proxy']) expect(m.mask(plain)).toBe(plain);
  });

  it('a config that refers to itself is walked once', () => {
    const config: Record<string, unknown> = { hooks: { preShift: { env: { API_TOKEN: 'tok-abcdef' } } } };
    config.self = config;
    expect(hidden(configSecrets(config, {}), 'tok-abcdef')).toBe(true);
  });
});
