import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Ajv is the validator editors and CI linters put in front of a JSON Schema; ajv-formats gives it "uri".
import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { createJiti } from 'jiti';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runZdd } from '../cli/cli-harness.js';

/**
 * The JSON Schema (`zdd schema`) and `zdd validate` agree: one corpus of bad configs, every bound,
 * enum and pattern of the zod schema, is refused by both; the example and documented configs are
 * accepted by both. Rules JSON Schema cannot state are listed below as known exceptions.
 */

const local = (extra: Record<string, unknown> = {}) => ({ type: 'local', command: 'node app.mjs', ...extra });
const base = (extra: Record<string, unknown> = {}, provider: Record<string, unknown> = local()) => ({ service: 'web', provider, ...extra });
const canary = (steps: unknown[]) => base({ strategies: { canary: { steps } } });
const gate = (check: Record<string, unknown>) => base({ gates: { analysis: { checks: [check] } } });
const router = (extra: Record<string, unknown>) => gate({ type: 'router', maxErrorRate: 5, ...extra });
const prometheus = (extra: Record<string, unknown>) => gate({ type: 'prometheus', address: 'http://127.0.0.1:9090', query: 'up', successCondition: '< 1', ...extra });
const aws = (extra: Record<string, unknown>) =>
  base({}, { type: 'aws', cluster: 'c', slots: [{ service: 'a', targetGroup: 'a' }, { service: 'b', targetGroup: 'b' }], listener: { loadBalancer: 'lb', port: 443 }, ...extra });
const hosts = (extra: Record<string, unknown>, routerExtra: Record<string, unknown> = {}) =>
  base({}, { type: 'hosts', hosts: ['10.0.0.1'], ports: [8081, 8082], provision: 'true', retire: 'true', router: { type: 'haproxy', runtimeApi: '/run/h.sock', backend: 'app', ...routerExtra }, ...extra });
const kubernetes = (extra: Record<string, unknown>, routerConfig: Record<string, unknown> = { type: 'service' }) =>
  base({}, { type: 'kubernetes', deployment: 'web', router: routerConfig, ...extra });
const unleash = (extra: Record<string, unknown>) => base({ flags: { provider: 'unleash', url: 'https://unleash.example.com', ...extra } });

/** Valid configs, one per provider type: the bad cases below are each built over one of them. */
const VALID_BASES = [base(), aws({}), hosts({}), kubernetes({})];

/** Each refused by the JSON Schema and by `zdd validate` (exit 2). */
const BAD: Record<string, unknown> = {
  'canary weight above 100': canary([{ weight: 140 }]),
  'canary weight below 0': canary([{ weight: -5 }]),
  'canary weight not whole': canary([{ weight: 12.5 }]),
  'canary pause not a duration': canary([{ weight: 10, pause: 'soon' }]),
  'canary without steps': canary([]),
  'local port above 65535': base({}, local({ port: 70000 })),
  'local port 0': base({}, local({ port: 0 })),
  'local health path without /': base({}, local({ health: { path: 'health' } })),
  'local testRoute.valueFromEnv not a variable name': base({}, local({ testRoute: { valueFromEnv: '1BAD' } })),
  'local maxConnections 0': base({}, local({ maxConnections: 0 })),
  'local deadMansSwitch.interval not a duration': base({}, local({ deadMansSwitch: { interval: 'often' } })),
  'local unknown key': base({}, local({ ports: 8080 })),
  'provider type unknown': base({}, { type: 'docker' }),
  'replicas 0': base({ replicas: 0 }),
  'replicas above 1000': base({ replicas: 1001 }),
  'service name with a space': { service: 'my web', provider: local() },
  'unknown top-level key': base({ replica: 2 }),
  'drain as words': base({ drain: '5 minutes' }),
  'drain negative milliseconds': base({ drain: -100 }),
  'health.timeout with a unit typo': base({ health: { timeout: '30sec' } }),
  'linear stepPercent 0': base({ strategies: { linear: { stepPercent: 0, interval: '1m' } } }),
  'rolling maxSurge below 0': base({ strategies: { rolling: { maxSurge: -1 } } }),
  'hybrid deploy unknown': base({ strategies: { hybrid: { deploy: 'big-bang', flags: [{ flag: 'f' }] } } }),
  'strategies section that is no strategy': base({ strategies: { canery: { steps: [{ weight: 10 }] } } }),
  'hook that is a number': base({ hooks: { preDeploy: 42 } }),
  'hook unknown point': base({ hooks: { beforeDeploy: 'true' } }),
  'gate without checks': base({ gates: { smoke: { checks: [] } } }),
  'gate onInconclusive unknown': base({ gates: { smoke: { onInconclusive: 'ignore', checks: [{ type: 'http' }] } } }),
  'check type unknown': gate({ type: 'datadog' }),
  'check count 0': gate({ type: 'http', count: 0 }),
  'http method PUT': gate({ type: 'http', method: 'PUT' }),
  'http expectStatus 700': gate({ type: 'http', expectStatus: 700 }),
  'http url not a URL': gate({ type: 'http', url: 'not a url' }),
  'router maxErrorRate above 100': router({ maxErrorRate: 150 }),
  'router check without a rule': gate({ type: 'router', minRequests: 5 }),
  'router latencyStatistic p75': router({ latencyStatistic: 'p75' }),
  'router mannWhitney significance above 1': router({ mannWhitney: { significance: 2 } }),
  'prometheus successCondition not a comparison': prometheus({ successCondition: 'about 5' }),
  'prometheus maxRatio without stableQuery': prometheus({ maxRatio: 2 }),
  'prometheus mannWhitney without range': prometheus({ stableQuery: 'up', mannWhitney: {} }),
  'prometheus address not a URL': prometheus({ address: 'prometheus' }),
  'notify type email': base({ notify: [{ type: 'email', urlEnv: 'HOOK' }] }),
  'notify urlEnv that is a URL': base({ notify: [{ type: 'webhook', urlEnv: 'https://hooks.example.com/x' }] }),
  'notify on unknown moment': base({ notify: [{ type: 'webhook', urlEnv: 'HOOK', on: ['done'] }] }),
  'state type unknown': base({ state: { type: 'redis' } }),
  'aws header rule on Host': aws({ testRoute: { header: 'Host' } }),
  'aws rule priority above 50000': aws({ rule: { priority: 50001 } }),
  'aws one slot': aws({ slots: [{ service: 'a', targetGroup: 'a' }] }),
  'aws listener port above 65535': aws({ listener: { loadBalancer: 'lb', port: 70000 } }),
  'hosts port repeated': hosts({ ports: [8081, 8081] }),
  'hosts port above 65535': hosts({ ports: [8081, 70000] }),
  'haproxy backend with a space': hosts({}, { backend: 'app backend' }),
  'haproxy url not http': hosts({}, { url: 'tcp://10.0.0.2' }),
  'haproxy sticky cookie with a space': hosts({}, { sticky: { cookie: 'my cookie' } }),
  'kubernetes deployment not a DNS name': kubernetes({ deployment: 'Web_App' }),
  'gateway-api rule above 63': kubernetes({}, { type: 'gateway-api', httpRoute: 'web', rule: 64 }),
  'unleash url not http': unleash({ url: 'ftp://unleash' }),
  'unleash tokenEnv not a variable name': unleash({ tokenEnv: 'my-token' }),
  'flag release step above 100': unleash({ release: { steps: [10, 150] } }),
  'flag release otherRules unknown': unleash({ release: { otherRules: 'ignore' } }),
};

/** Refused after the schema (by the step that gives plugin sections to their plugin), so never per environment: each runs alone. */
const ALONE = ['strategies section that is no strategy'];

/**
 * Refused by `zdd validate`, accepted by the JSON Schema: rules that span fields or need arithmetic
 * on a duration's text. Each names the rule of RULES_BEYOND_JSON_SCHEMA (the schema's description) it stands for.
 */
const KNOWN_EXCEPTIONS: Record<string, { rule: string; config: unknown }> = {
  'default strategy that does not exist': { rule: 'strategies.default must name', config: base({ strategies: { default: 'canery' } }) },
  'analysis naming a gate that is not defined': { rule: 'must name gates defined under gates', config: base({ strategies: { canary: { steps: [{ weight: 10 }], analysis: ['missing'] } } }) },
  'hybrid without a flags section': { rule: 'strategies.hybrid needs a flags section', config: base({ strategies: { hybrid: { flags: [{ flag: 'f' }] } } }) },
  'rolling that can never move': { rule: 'maxSurge and maxUnavailable cannot both be 0', config: base({ strategies: { rolling: { maxSurge: 0, maxUnavailable: 0 } } }) },
  'aws slots sharing a service': { rule: 'two slots need different services', config: aws({ slots: [{ service: 'a', targetGroup: 'a' }, { service: 'a', targetGroup: 'b' }] }) },
  'aws stickiness beyond the ALB limit': { rule: 'provider.stickiness (aws): between 1s and 7d', config: aws({ stickiness: '8d' }) },
  'cloudwatch window of 90s': { rule: 'window and settle must be whole minutes', config: gate({ type: 'cloudwatch', maxErrorRate: 5, window: '90s' }) },
  'environment override out of bounds': { rule: 'each override is checked once merged', config: base({ environments: { staging: { replicas: 0 } } }) },
};

/** The documented configs: README and docs code blocks that are a whole `defineConfig({ … })` importing nothing else. */
function documentedConfigs(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const file of ['README.md', 'docs/haproxy.md', 'docs/local-provider.md', 'docs/aws.md', 'docs/kubernetes.md', 'docs/metrics.md', 'docs/strategies.md', 'docs/flags.md']) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const body = m[1];
      const imports = body.match(/^import .*$/gm) ?? [];
      if (!body.includes('defineConfig({') || imports.some((i) => !i.includes("from 'zdd'"))) continue;
      const literal = body.slice(body.indexOf('defineConfig(') + 'defineConfig('.length, body.lastIndexOf(');'));
      out[`${file}:${text.slice(0, m.index).split('\n').length}`] = (0, eval)(`(${literal})`);
    }
  }
  return out;
}

describe('the JSON Schema and zdd validate agree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-schema-agrees-'));
  let validate: ValidateFunction;
  let description = '';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    const r = await runZdd(['schema'], dir);
    expect(r.code, r.stderr).toBe(0);
    const schema = JSON.parse(r.stdout);
    description = schema.description;
    const ajv = new Ajv({ allErrors: true });
    // A CommonJS module: its default export is the module object under NodeNext typing.
    const addFormats = (formats as unknown as { default: typeof formats }).default ?? formats;
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    validate = ajv.compile(schema);
  });

  /** `zdd validate` on each config, written as deploy.config.json; a few at a time (2 cores are shared). */
  async function validateExitCodes(configs: Record<string, unknown>): Promise<Record<string, { code: number | null; output: string }>> {
    const entries = Object.entries(configs);
    const results: Record<string, { code: number | null; output: string }> = {};
    let next = 0;
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (next < entries.length) {
          const [name, config] = entries[next++];
          const d = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, 'deploy.config.json'), JSON.stringify(config));
          const r = await runZdd(['validate'], d);
          results[name] = { code: r.code, output: r.stdout + r.stderr };
        }
      }),
    );
    return results;
  }

  it('every bad config is refused by both', async () => {
    expect(Object.keys(BAD).length).toBeGreaterThanOrEqual(20);
    const bySchema = Object.keys(BAD).filter((name) => validate(BAD[name]));
    expect(bySchema, 'accepted by the JSON Schema').toEqual([]);

    // One `zdd validate` per provider type, not per case (each run costs half a second of a shared
    // CPU): every case is an environment of a valid config of its provider type. zdd validates
    // each environment merged over the top level (a merge that gives back the case itself: the
    // cases are built over these bases) and names each problem under environments.<case>.
    const groups = new Map<unknown, Record<string, unknown>>(VALID_BASES.map((b) => [b.provider.type, {}]));
    const slugOf = (name: string) => name.replace(/[^a-z0-9]+/gi, '-');
    for (const [name, config] of Object.entries(BAD)) {
      if (ALONE.includes(name)) continue;
      const type = (config as { provider: { type: string } }).provider.type;
      (groups.get(type) ?? groups.get('local')!)[slugOf(name)] = config;
    }
    const batches = Object.fromEntries(VALID_BASES.map((b) => [b.provider.type, { ...b, environments: groups.get(b.provider.type) }]));
    // The two cases also alone, as an operator writes them.
    const alone = Object.fromEntries(ALONE.map((name) => [name, BAD[name]]));
    const byZdd = await validateExitCodes({ ...batches, ...alone, alone1: BAD['canary weight above 100'], alone2: BAD['local port above 65535'] });
    const notRefused = Object.keys(BAD).filter((name) => {
      if (ALONE.includes(name)) return byZdd[name].code !== 2;
      const type = (BAD[name] as { provider: { type: string } }).provider.type;
      const run = byZdd[groups.has(type) ? type : 'local'];
      return run.code !== 2 || !run.output.includes(`  environments.${slugOf(name)}.`);
    });
    expect(notRefused, 'not refused by zdd validate').toEqual([]);
    expect(byZdd.alone1.output).toContain('strategies.canary.steps[0].weight: must be 0–100, got 140');
    expect(byZdd.alone2.output).toContain('provider.port: must be 1–65535, got 70000');
  });

  it('rules JSON Schema cannot state are the known exceptions: zdd validate refuses them, the schema says so in its description', async () => {
    const byZdd = await validateExitCodes(Object.fromEntries(Object.entries(KNOWN_EXCEPTIONS).map(([n, c]) => [n, c.config])));
    for (const [name, { rule, config }] of Object.entries(KNOWN_EXCEPTIONS)) {
      expect(byZdd[name].code, `${name}: ${byZdd[name].output}`).toBe(2);
      // Should the schema learn the rule one day, move the case to BAD.
      expect(validate(config), `${name} is refused by the schema now: move it to BAD`).toBe(true);
      expect(description).toContain(rule);
    }
  });

  it('the examples and the documented configs are accepted by both', async () => {
    const jiti = createJiti(import.meta.url);
    const good: Record<string, unknown> = { ...documentedConfigs() };
    for (const example of ['examples/local/deploy.config.ts', 'examples/flags/deploy.config.ts']) {
      good[example] = await jiti.import(join(ROOT, example), { default: true });
    }
    expect(Object.keys(good).length).toBeGreaterThanOrEqual(4);
    const json = Object.fromEntries(Object.entries(good).map(([name, config]) => [name, JSON.parse(JSON.stringify(config))]));
    const byZdd = await validateExitCodes(json);
    for (const [name, config] of Object.entries(json)) {
      expect(validate(config), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(byZdd[name].code, `${name}: ${byZdd[name].output}`).toBe(0);
    }
  });
});
