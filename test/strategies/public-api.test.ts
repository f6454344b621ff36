import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_STRATEGIES } from '../../strategies/index.js';

const dir = new URL('../../strategies/', import.meta.url);
const sources = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((file) => ({ file, text: readFileSync(new URL(file, dir), 'utf8') }));

describe('built-in strategies use only the public plugin API', () => {
  it.each(sources)('$file imports only zdd’s public API and its siblings', ({ text }) => {
    const specifiers = [...text.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g), ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    for (const s of specifiers) expect(s).toMatch(/^(\.\.\/src\/index\.js|\.\/[a-z-]+\.js)$/);
  });

  it('are pure: no clock, randomness, environment or I/O', () => {
    for (const { file, text } of sources) expect(text, file).not.toMatch(/Date\.|Math\.random|process\.|node:|require\(|fetch\(/);
  });

  it('registers the four built-ins under the names their records carry', () => {
    expect(Object.keys(BUILT_IN_STRATEGIES).sort()).toEqual(['blue-green', 'canary', 'linear', 'rolling']);
    for (const [key, s] of Object.entries(BUILT_IN_STRATEGIES)) {
      expect(s.name).toBe(key);
      expect(s.description.length).toBeGreaterThan(10);
    }
  });
});
