import { readFileSync } from 'node:fs';

/**
 * Read from package.json at run time so the version is never out of step with the package: the
 * nearest one above this module that is zdd's (dist/src/cli/ and dist/bundle/ sit at different depths).
 */
export const version: string = (() => {
  for (let up = '../'; up.length <= 5 * 3; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'zdd' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return '0.0.0';
})();
