import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runZdd } from '../cli/cli-harness.js';

/** `zdd schema`, YAML and JSON configs that name the schema, and unknown keys suggested by meaning — through the built binary. */
describe('config formats and the JSON Schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-formats-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('zdd schema prints only the JSON Schema of the config (no status line), and -o writes it', async () => {
    const r = await runZdd(['schema'], dir);
    expect(r.code, r.stderr).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(expect.arrayContaining(['service', 'provider']));
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['$schema', 'service', 'provider', 'strategies', 'gates', 'hooks', 'notify']));
    expect(schema.properties.notify.items.properties.type.enum).toEqual(['webhook', 'slack']);
    expect(schema.properties.strategies.properties.canary.properties.steps.items.required).toEqual(['weight']);
    expect(JSON.stringify(schema.properties.provider)).toContain('"const":"local"');

    const o = await runZdd(['schema', '--output', 'zdd.schema.json'], dir);
    expect(o.code, o.stdout).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'zdd.schema.json'), 'utf8'))).toEqual(schema);
  });

  it('a deploy.config.yaml is found and loads (a schema comment and a $schema key are fine)', async () => {
    const d = mkdtempSync(join(dir, 'yaml-'));
    writeFileSync(
      join(d, 'deploy.config.yaml'),
      `# yaml-language-server: $schema=./zdd.schema.json
$schema: ./zdd.schema.json
service: web
provider:
  type: local
  command: node app.mjs
  port: 18080
replicas: 2
strategies:
  canary:
    steps:
      - { weight: 10, pause: 30s }
      - { weight: 100 }
notify:
  - { type: slack, urlEnv: SLACK_WEBHOOK_URL, on: [rollback, needs-person] }
`,
    );
    const r = await runZdd(['validate', '--json'], d);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const plan = await runZdd(['plan', '--revision', 'v2', '--json'], d);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('{"kind":"provision","role":"candidate","replicas":2}');
  });

  it('a deploy.config.json with "$schema" validates', async () => {
    const d = mkdtempSync(join(dir, 'json-'));
    writeFileSync(join(d, 'deploy.config.json'), JSON.stringify({ $schema: './zdd.schema.json', service: 'web', provider: { type: 'local', command: 'node app.mjs', port: 18081 } }));
    const r = await runZdd(['validate'], d);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('unknown keys get suggestions by meaning as well as spelling', async () => {
    const d = mkdtempSync(join(dir, 'bad-'));
    writeFileSync(
      join(d, 'deploy.config.yml'),
      `service: web
provider: { type: local, command: node app.mjs, port: 18082 }
instances: 2
hooks:
  afterDeploy: echo done
  beforeDeploy: echo start
  onFailure: echo oops
strategies:
  canary:
    steps:
      - { percent: 10, pause: 30s }
  blue-green: { keepPrevios: 10m }
notify:
  - { type: slack, url: https://example.invalid/x }
`,
    );
    const r = await runZdd(['validate'], d);
    expect(r.code).toBe(2);
    const out = r.stdout + r.stderr;
    expect(out).toContain('instances: unknown key; did you mean "replicas"?');
    expect(out).toContain('hooks.afterDeploy: unknown key; did you mean "postDeploy"?');
    expect(out).toContain('hooks.beforeDeploy: unknown key; did you mean "preDeploy"?');
    expect(out).toContain('hooks.onFailure: unknown key; did you mean "onRollback"?');
    expect(out).toContain('strategies.canary.steps[0].percent: unknown key; did you mean "weight"?');
    expect(out).toContain('strategies["blue-green"].keepPrevios: unknown key; did you mean "keepPrevious"?');
    expect(out).toContain('notify[0].url: unknown key; did you mean "urlEnv"?');
  });
});
