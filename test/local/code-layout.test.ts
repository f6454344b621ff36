import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The local provider's folders say which process runs the code (docs/local-provider.md, "Where the
 * code runs"): src/providers/local/router/ runs in the router processes, src/providers/local/ in
 * zdd, and router-state.ts and processes.ts are read by both.
 */
const LOCAL = resolve(import.meta.dirname, '../../src/providers/local');
const ROUTER = join(LOCAL, 'router');
const SHARED = new Set([join(LOCAL, 'router-state.ts'), join(LOCAL, 'processes.ts')]);

interface Import {
  file: string;
  target: string;
  typeOnly: boolean;
}

function importsOf(dir: string): Import[] {
  const out: Import[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const file = join(dir, name);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(import|export)(\s+type)?\b[^;]*?from '(\.[^']+)'/gms)) {
      out.push({ file, target: resolve(dir, m[3]!.replace(/\.js$/, '.ts')), typeOnly: m[2] !== undefined });
    }
  }
  return out;
}

const rel = (i: Import) => `${i.file.slice(LOCAL.length + 1)} → ${i.target.startsWith(LOCAL) ? i.target.slice(LOCAL.length + 1) : i.target}`;

describe('local provider code layout', () => {
  it('the router processes load nothing of zdd\'s side: router/ imports only router/, the shared files and code outside the provider', () => {
    const imports = importsOf(ROUTER);
    expect(imports.length).toBeGreaterThan(10);
    const wrong = imports.filter((i) => i.target.startsWith(`${LOCAL}/`) && !i.target.startsWith(`${ROUTER}/`) && !SHARED.has(i.target));
    expect(wrong.map(rel)).toEqual([]);
  });

  it('zdd loads no router-process code: its side imports only types from router/ (the entry is spawned by path)', () => {
    const wrong = importsOf(LOCAL).filter((i) => i.target.startsWith(`${ROUTER}/`) && !i.typeOnly);
    expect(wrong.map(rel)).toEqual([]);
  });

  it('the shared files import nothing from either side', () => {
    const wrong = importsOf(LOCAL).filter((i) => SHARED.has(i.file) && i.target.startsWith(`${LOCAL}/`) && !SHARED.has(i.target));
    expect(wrong.map(rel)).toEqual([]);
  });
});
