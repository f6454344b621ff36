import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The plugin example of docs/strategies.md, written to a temporary file so tests can run exactly
 * what the docs show. `zdd` is pointed at this checkout's sources.
 */
export function writeDocsPlugin(dir = mkdtempSync(join(tmpdir(), 'zdd-plugin-'))): { dir: string; file: string } {
  const docs = readFileSync(join(ROOT, 'docs/strategies.md'), 'utf8');
  const block = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).find((code) => code.includes('export function approveThenSwitch('));
  if (!block) throw new Error('docs/strategies.md has no approveThenSwitch example');
  const file = join(dir, 'approve-then-switch.ts');
  // Type imports only: the path matters to the type checker, not at run time.
  writeFileSync(file, block.replace(/from 'zdd'/g, `from ${JSON.stringify(join(ROOT, 'src/index.js'))}`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  return { dir, file };
}
