import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runZdd } from './cli-harness.js';

// The local provider reads no platform settings: only zdd's own numbers are linted. The AWS rules
// run on moto in test/aws/aws-cli.e2e.test.ts ("drains that match the platform").
describe('zdd validate --provider-checks (local provider, built binary)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-validate-checks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'deploy.config.json'),
    JSON.stringify({
      service: 'web',
      provider: { type: 'local', command: 'node server.js', port: 18999 },
      strategies: { default: 'canary', canary: { steps: [{ weight: 10, pause: '1m' }] }, 'blue-green': { bake: '10m', keepPrevious: '2m' } },
    }),
  );

  it('lints the plan of every configured strategy as a deploy after the first would run it; plain validate stays offline and silent', async () => {
    const [checked, offline] = await Promise.all([runZdd(['validate', '--provider-checks', '--json'], dir), runZdd(['validate'], dir)]);
    expect(checked.code, checked.stderr).toBe(0);
    const config = checked.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((e) => e.type === 'config');
    expect(config.providerChecks.drains).toEqual([
      {
        rule: 'keep-previous-shorter-than-bake',
        severity: 'warn',
        message: expect.stringMatching(/^keepPrevious 2m is shorter than the 10m bake/),
        fix: 'set strategies.blue-green.keepPrevious: "10m" or more',
        strategies: ['blue-green'],
      },
    ]);
    expect(offline.code).toBe(0);
    expect(offline.stdout + offline.stderr).not.toMatch(/keepPrevious|drain/);
  });
});
