import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { awsInitTemplate } from '../../src/providers/aws/init-template.js';
import { ZDD_BIN } from '../cli/cli-harness.js';

// The AWS SDK loads only for AWS work: a module-resolution hook reports every @aws-sdk import.
describe.skipIf(!existsSync(ZDD_BIN))('AWS SDK is loaded lazily', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-lazy-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) process.stderr.write('AWS-SDK-LOADED ' + specifier + '\\n');
  return next(specifier, context);
}
`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(new URL('./hooks.mjs', import.meta.url));\n`);
  writeFileSync(join(dir, 'deploy.config.ts'), awsInitTemplate());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[]) => {
    const env: Record<string, string | undefined> = { ...process.env, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
    delete env.CI;
    return spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), ZDD_BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  };

  it('not for --help, validate or init of an AWS config', () => {
    for (const args of [['--help'], ['validate'], ['init', '--provider', 'aws', '--output', 'other.config.ts']]) {
      const r = run(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr).not.toContain('AWS-SDK-LOADED');
    }
  });

  it('but for a command that talks to AWS (the hook does see it)', () => {
    const r = run(['status']);
    expect(r.stderr).toContain('AWS-SDK-LOADED @aws-sdk/client-ecs');
  });
});
