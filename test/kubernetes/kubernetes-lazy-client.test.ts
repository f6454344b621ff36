import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubernetesInitTemplate } from '../../src/providers/kubernetes/init-template.js';
import { ZDD_BIN } from '../cli/cli-harness.js';

// @kubernetes/client-node loads only for Kubernetes work: a module-resolution hook reports it.
describe.skipIf(!existsSync(ZDD_BIN))('@kubernetes/client-node is loaded lazily', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-kube-lazy-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@kubernetes/')) process.stderr.write('KUBE-CLIENT-LOADED ' + specifier + '\\n');
  return next(specifier, context);
}
`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(new URL('./hooks.mjs', import.meta.url));\n`);
  writeFileSync(join(dir, 'deploy.config.ts'), kubernetesInitTemplate());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[]) => {
    const env: Record<string, string | undefined> = { ...process.env, KUBECONFIG: join(dir, 'no-kubeconfig') };
    delete env.CI;
    return spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), ZDD_BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  };

  it('not for --help, validate or init of a Kubernetes config', () => {
    for (const args of [['--help'], ['validate'], ['init', '--provider', 'kubernetes', '--output', 'other.config.ts']]) {
      const r = run(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr).not.toContain('KUBE-CLIENT-LOADED');
    }
  });

  it('but for a command that talks to the cluster (and no kubeconfig is exit 5)', () => {
    const r = run(['status']);
    expect(r.stderr).toContain('KUBE-CLIENT-LOADED @kubernetes/client-node');
    expect(r.stdout + r.stderr).toMatch(/No kubeconfig/);
  });
});
