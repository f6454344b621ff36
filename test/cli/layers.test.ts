import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Static and dynamic imports of one platform's or router's folder (src/providers/<name>/…). */
const PROVIDER_FOLDER = /(?:from\s+|import\()\s*'(?:\.\.\/)+(?:src\/)?providers\/(local|aws|kubernetes|haproxy|hosts)\//;

/**
 * Issue 16: provider knowledge stays behind providers. The engine, the CLI, hooks, checks,
 * reporters, reports and strategies name no platform or router; only the state layer's remote
 * stores borrow a provider's access code (S3's region/profile flags, the Kubernetes client).
 */
describe('layers: provider knowledge stays behind providers', () => {
  it.each(['src/engine', 'src/cli', 'src/core', 'src/hooks', 'src/checks', 'src/reporters', 'src/report', 'strategies'])('%s imports no platform or router folder', (dir) => {
    const offenders = sources(join(ROOT, dir)).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => PROVIDER_FOLDER.test(line))
        .map((line) => `${relative(ROOT, file)}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it('in the state layer, only the store picker and the Kubernetes store reach into a provider folder', () => {
    const files = sources(join(ROOT, 'src/state')).filter((file) => readFileSync(file, 'utf8').split('\n').some((line) => PROVIDER_FOLDER.test(line)));
    expect(files.map((f) => relative(ROOT, f)).sort()).toEqual(['src/state/create-state-store.ts', 'src/state/kubernetes-state-store.ts']);
  });
});
