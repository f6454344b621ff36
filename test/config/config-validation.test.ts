import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deepMerge, validateConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { runZdd } from '../cli/cli-harness.js';

const VALID = {
  service: 'web',
  provider: { type: 'local', command: 'node app.js', port: 8080 },
  replicas: 2,
  gates: { smoke: { checks: [{ type: 'http', path: '/health' }] }, analysis: { checks: [{ type: 'router', maxErrorRate: 5 }] } },
  strategies: { canary: { steps: [{ weight: 10, pause: '30s' }, { weight: 100 }] } },
};

/** [name, mutation merged over VALID (null deletes a top-level key), exact problem lines]. */
const INVALID: [string, Record<string, unknown>, string[]][] = [
  ['weight above 100', { strategies: { canary: { steps: [{ weight: 10 }, { weight: 50 }, { weight: 140 }] } } }, ['strategies.canary.steps[2].weight: must be 0–100, got 140']],
  ['negative weight', { strategies: { canary: { steps: [{ weight: -5 }] } } }, ['strategies.canary.steps[0].weight: must be 0–100, got -5']],
  ['fractional weight', { strategies: { canary: { steps: [{ weight: 12.5 }] } } }, ['strategies.canary.steps[0].weight: must be a whole number 0–100, got 12.5']],
  ['weight as a string', { strategies: { canary: { steps: [{ weight: '20' }] } } }, ['strategies.canary.steps[0].weight: must be a number 0–100, got "20"']],
  ['no canary steps', { strategies: { canary: { steps: [] } } }, ['strategies.canary.steps: needs at least one step, e.g. [{ weight: 10, pause: "30s" }]']],
  ['typo in a key', { strategies: { canary: { stpes: [{ weight: 10 }], steps: [{ weight: 10 }] } } }, ['strategies.canary.stpes: unknown key; did you mean "steps"?']],
  ['bad pause', { strategies: { canary: { steps: [{ weight: 10, pause: 'soon' }] } } }, ['strategies.canary.steps[0].pause: must be a duration like "30s", "manual" or {} (wait for zdd promote), got "soon"']],
  ['unknown top-level key', { timeout: '5m' }, ['timeout: unknown key (remove it: unknown keys are errors so that a typo cannot silently disable a check)']],
  ['typo at top level', { replica: 3 }, ['replica: unknown key; did you mean "replicas"?']],
  ['missing service', { service: null }, ['service: is required: the name of the service, e.g. service: "web"']],
  ['service with spaces', { service: 'my web' }, ['service: must be letters, digits, ".", "_" or "-" (max 63), got "my web"']],
  ['unknown provider type', { provider: { type: 'k8s' } }, ['provider.type: type must be one of "local", "aws", "kubernetes", "hosts", "custom"']],
  ['router the platform cannot use', { provider: { type: 'local', command: 'x', router: { type: 'istio' } } }, ['provider.router.type: router "istio" cannot stand in front of platform "local"; platform "local" can use "local", "haproxy"']],
  ['unknown router', { provider: { type: 'local', command: 'x', router: { type: 'nginx' } } }, ['provider.router.type: type must be one of "local", "haproxy" (the routers platform "local" can use)']],
  ['local router setting with haproxy', { provider: { type: 'local', command: 'x', port: 8080, router: { type: 'haproxy', runtimeApi: '/run/haproxy.sock', backend: 'app' } } }, ['provider.port: is a setting of the local router, and this platform\'s router is "haproxy"; remove it (the haproxy router\'s settings go in provider.router)']],
  ['local provider without command', { provider: { type: 'local', port: 8080 } }, ['provider.command: is required']],
  ['port out of range', { provider: { type: 'local', command: 'x', port: 70000 } }, ['provider.port: must be 1–65535, got 70000']],
  ['replicas zero', { replicas: 0 }, ['replicas: must be 1–1000, got 0']],
  ['bad drain duration', { drain: 'forever' }, ['drain: must be a duration like "30s", "5m" or "1h30m", got "forever"']],
  ['gate without checks', { gates: { smoke: { checks: [] } } }, ['gates.smoke.checks: a gate needs at least one check']],
  ['unknown check type', { gates: { smoke: { checks: [{ type: 'ping' }] } } }, ['gates.smoke.checks[0].type: type must be one of "http", "command", "prometheus", "cloudwatch", "cloudwatch-alarm", "router"']],
  ['status code out of range', { gates: { smoke: { checks: [{ type: 'http', expectStatus: 99 }] } } }, ['gates.smoke.checks[0].expectStatus: must be 100–599, got 99']],
  ['command check without run', { gates: { smoke: { checks: [{ type: 'command' }] } } }, ['gates.smoke.checks[0].run: is required']],
  ['negative failure limit', { gates: { smoke: { checks: [{ type: 'http', failureLimit: -1 }] } } }, ['gates.smoke.checks[0].failureLimit: must be 0–10000, got -1']],
  ['hook of the wrong type', { hooks: { preDeploy: 5 } }, ['hooks.preDeploy: must be a command string, { run, timeout } or a function, got 5']],
  ['unknown hook point', { hooks: { beforeDeploy: 'echo hi' } }, ['hooks.beforeDeploy: unknown key; did you mean "preDeploy"?']],
  ['hook timeout not a duration', { hooks: { preDeploy: { run: 'x', timeout: 'long' } } }, ['hooks.preDeploy.timeout: must be a duration like "30s", "5m" or "1h30m", got "long"']],
  ['unknown default strategy', { strategies: { default: 'yolo' } }, ['strategies.default: unknown strategy "yolo"; use one of "canary", "linear", "blue-green", "rolling"']],
  ['analysis names an undefined gate', { strategies: { canary: { steps: [{ weight: 10 }], analysis: ['errors'] } } }, ['strategies.canary.analysis[0]: gate "errors" is not defined; add it under gates (defined: smoke, analysis)']],
  ['rolling that can never progress', { strategies: { rolling: { maxSurge: 0, maxUnavailable: 0 } } }, ['strategies.rolling.maxSurge: is 0 and so is maxUnavailable: no instance could ever be added or removed; set maxSurge: 1 (one candidate instance beside stable) or maxUnavailable: 1']],
  ['linear step of 0', { strategies: { linear: { stepPercent: 0, interval: '1m' } } }, ['strategies.linear.stepPercent: must be 1–100, got 0']],
  ['state type unknown', { state: { type: 'redis' } }, ['state.type: type must be "file", "s3" or "kubernetes"']],
  ['s3 state without bucket', { state: { type: 's3' } }, ['state.bucket: is required']],
  ['router check error rate above 100%', { gates: { analysis: { checks: [{ type: 'router', maxErrorRate: 150 }] } } }, ['gates.analysis.checks[0].maxErrorRate: must be 0–100, got 150']],
  ['an environment with a bad override', { environments: { staging: { replicas: -1 } } }, ['environments.staging.replicas: must be 1–1000, got -1']],
];

function mutate(m: Record<string, unknown>): Record<string, unknown> {
  const out = deepMerge(VALID, Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)));
  for (const [k, v] of Object.entries(m)) if (v === null) delete out[k];
  // Arrays and provider objects replace rather than merge:
  if (m.provider) out.provider = m.provider;
  return out;
}

function problems(value: unknown): string[] {
  try {
    validateConfig(value);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('config validation', () => {
  it('accepts the valid base config', () => {
    expect(problems(VALID)).toEqual([]);
  });

  it(`has at least 25 invalid cases`, () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID)('%s', (_name, m, expected) => {
    expect(problems(mutate(m))).toEqual(expected);
  });

  it('collects every problem at once, not just the first', () => {
    const all = problems(mutate({ replicas: 0, drain: 'x', strategies: { canary: { steps: [{ weight: 140 }] } } }));
    expect(all).toEqual([
      'replicas: must be 1–1000, got 0',
      'strategies.canary.steps[0].weight: must be 0–100, got 140',
      'drain: must be a duration like "30s", "5m" or "1h30m", got "x"',
    ]);
  });

  it('an unknown --env names the environments that exist', () => {
    expect(() => validateConfig({ ...VALID, environments: { staging: {} } }, { env: 'prod' })).toThrow(/Environment "prod" is not defined/);
  });

  it('--env merges its overrides over the top level', () => {
    const c = validateConfig({ ...VALID, environments: { staging: { replicas: 1, provider: { port: 9090 } } } }, { env: 'staging' });
    expect(c.replicas).toBe(1);
    expect((c.provider as { port: number }).port).toBe(9090);
  });
});

describe('config validation through the binary: exit 2, every message, nothing changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('zdd validate prints every problem with its path for each invalid config', async () => {
    const cases = INVALID.map(([name, m, expected], i) => {
      const file = join(dir, `case-${i}.json`);
      writeFileSync(file, JSON.stringify(mutate(m)));
      return { name, file, expected };
    });
    // Four at a time: these are separate processes on a two-core machine.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async (c) => {
          const r = await runZdd(['validate', '--config', c.file], dir);
          expect(r.code, c.name).toBe(2);
          for (const line of c.expected) expect(r.stdout, c.name).toContain(`  ${line}`);
        }),
      );
    }
  });

  it('zdd validate passes on the example config', async () => {
    const r = await runZdd(['validate', '--config', join(import.meta.dirname, '../../deploy.config.example.ts')], dir);
    expect(r.stdout).toContain('is valid: service');
    expect(r.code).toBe(0);
  });
});

describe('deploy.config.example.ts', () => {
  it('type-checks against the public API and loads through the real loader', async () => {
    const { loadConfig } = await import('../../src/config/load-config.js');
    const loaded = await loadConfig({ configPath: 'deploy.config.example.ts', cwd: join(import.meta.dirname, '../..') });
    expect(loaded.config.service).toBe('web');
    expect(loaded.config.strategies?.canary?.steps).toHaveLength(4);
    const staging = await loadConfig({ configPath: 'deploy.config.example.ts', cwd: join(import.meta.dirname, '../..'), env: 'staging' });
    expect(staging.config.replicas).toBe(1);
    // Type-checking: `npm run typecheck` covers this file (tsconfig.json includes it); the
    // assignment below fails to compile if the example drifts from the config type.
    const { default: example } = await import('../../deploy.config.example.js');
    const typed: import('../../src/index.js').ZddConfigInput = example;
    expect(typed.service).toBe('web');
  });
});
