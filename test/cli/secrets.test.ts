import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, ROOT, type Project, type RunResult } from './cli-harness.js';

// Secrets reach zdd the way they do in CI: through the environment, read by deploy.config.ts.
const SECRETS = {
  ZDD_TEST_PROM_TOKEN: 'prom-Tk-7f3a9c1e55b2', // Prometheus Authorization header
  ZDD_TEST_HOOK_TOKEN: 'hook-Tk-0d94be6a1f77', // a hook's env (API_TOKEN)
  ZDD_TEST_CHECK_VALUE: 'check-Vl-5ac2e8b93d10', // a command check's env (CHECK_VALUE: not a secret-looking name)
  ZDD_TEST_CMD_SECRET: 'cmd-Sc-81e7c40f2b6d', // built into a command string with process.env
};
const FAKE_PROVIDER = join(ROOT, 'test/fake/fake-provider.ts');

/**
 * A stand-in for Prometheus's HTTP API on 127.0.0.1 (no Prometheus binary needed): answers an
 * instant query with 0 when the Authorization header carries the token; in `echo` mode it rejects
 * the query with an error that quotes the header, as some proxies do.
 */
function promStub() {
  const seen: string[] = [];
  let echo = false;
  const server: Server = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    seen.push(auth);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (echo) return res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: `token rejected: ${auth}` }));
      if (auth !== `Bearer ${SECRETS.ZDD_TEST_PROM_TOKEN}`) {
        res.statusCode = 401;
        return res.end(JSON.stringify({ status: 'error', error: 'unauthorized' }));
      }
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, '0'] }] } }));
    });
  });
  return { server, seen, setEcho: (on: boolean) => (echo = on) };
}

function config(promUrl: string): string {
  return `import { defineConfig } from 'zdd';
import { fakeProviderFactory } from ${JSON.stringify(FAKE_PROVIDER)};

export default defineConfig({
  service: 'web',
  provider: { type: 'custom', name: 'fake', create: fakeProviderFactory, options: { stateFile: 'fake-state.json' } },
  replicas: 2,
  drain: '0s',
  gates: {
    smoke: {
      checks: [{ type: 'command', name: 'smoke-env', run: 'echo "value $CHECK_VALUE" >&2; test ! -f FAIL_CHECK', env: { CHECK_VALUE: process.env.ZDD_TEST_CHECK_VALUE } }],
    },
    analysis: {
      checks: [
        { type: 'command', name: 'cmd-with-secret', run: \`test "\${process.env.ZDD_TEST_CMD_SECRET}" != nothing\`, interval: '1s' },
        { type: 'prometheus', name: 'prom-errors', address: ${JSON.stringify(promUrl)}, query: 'sum(rate(errors_total{revision="{{candidate}}"}[1m]))', successCondition: '< 1', headers: { Authorization: \`Bearer \${process.env.ZDD_TEST_PROM_TOKEN}\` }, interval: '1s' },
      ],
    },
  },
  hooks: {
    preShift: { run: 'echo "calling the API with $API_TOKEN" >&2; test ! -f FAIL_HOOK', env: { API_TOKEN: process.env.ZDD_TEST_HOOK_TOKEN } },
  },
  strategies: { canary: { steps: [{ weight: 50, pause: '5s' }, { weight: 100 }] } },
});
`;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('no secrets in output or state (through the binary)', { timeout: 120_000 }, () => {
  const prom = promStub();
  let p: Project;
  const outputs: { what: string; text: string }[] = [];
  let summary: string;

  beforeAll(async () => {
    await new Promise<void>((r) => prom.server.listen(0, '127.0.0.1', r));
    const port = (prom.server.address() as { port: number }).port;
    p = makeProject();
    writeFileSync(join(p.dir, 'deploy.config.ts'), config(`http://127.0.0.1:${port}`));
    summary = join(p.dir, 'summary.md');
  });
  afterAll(async () => {
    p?.cleanup();
    await new Promise((r) => prom.server.close(r));
  });

  const run = async (what: string, args: string[], extraEnv: Record<string, string> = {}): Promise<RunResult> => {
    const r = await p.run(args, { env: { ...SECRETS, GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, ...extraEnv }, fastClock: true });
    outputs.push({ what, text: r.stdout + r.stderr });
    return r;
  };

  it('a deploy whose checks and hooks use secrets, failing and succeeding, never writes one anywhere', async () => {
    // 1. Succeeds: every check passes with its secret (the stub saw the real token).
    const ok = await run('deploy --json', ['deploy', '--revision', 'v2', '--json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(prom.seen).toContain(`Bearer ${SECRETS.ZDD_TEST_PROM_TOKEN}`);
    expect(ok.stdout).toContain('cmd-with-secret');
    expect(ok.stdout).toContain('test \\"***\\" != nothing');

    // 2. A hook fails after printing its env secret to stderr: its name and exit code are shown, the value masked.
    writeFileSync(join(p.dir, 'FAIL_HOOK'), '');
    const hook = await run('deploy, failing hook', ['deploy', '--revision', 'v3', '--verbose']);
    expect(hook.code).toBe(1);
    expect(hook.stdout).toMatch(/Hook preShift .* exited with code 1/);
    expect(hook.stdout).toContain('calling the API with ***');
    rmFile(join(p.dir, 'FAIL_HOOK'));

    // 3. A smoke check fails after printing its env value: the check's name and exit code, value masked.
    writeFileSync(join(p.dir, 'FAIL_CHECK'), '');
    const check = await run('deploy, failing check', ['deploy', '--revision', 'v4']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('smoke-env');
    expect(check.stdout).toContain('exited with code 1: value ***');
    rmFile(join(p.dir, 'FAIL_CHECK'));

    // 4. Prometheus rejects the query quoting the Authorization header.
    prom.setEcho(true);
    const promFail = await run('deploy, Prometheus echoes the header', ['deploy', '--revision', 'v5', '--json']);
    prom.setEcho(false);
    expect(promFail.code).toBe(1);
    expect(promFail.stdout).toContain('(bad_data: token rejected: ***)');

    await run('status', ['status']);
    await run('status --json', ['status', '--json']);
    await run('lock status', ['lock', 'status', '--json']);

    const state = filesUnder(join(p.dir, '.zdd')).map((f) => ({ what: f, text: readFileSync(f, 'utf8') }));
    expect(state.length).toBeGreaterThan(3);
    const places = [...outputs, ...state, { what: 'GitHub step summary', text: readFileSync(summary, 'utf8') }];
    for (const { what, text } of places) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        expect(text.includes(secret), `${name} found in ${what}`).toBe(false);
      }
    }
  });
});

function rmFile(path: string): void {
  rmSync(path, { force: true });
}
