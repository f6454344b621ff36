import { readFileSync } from 'node:fs';

/** Read from package.json at run time so the version is never out of step with the package. */
export const version: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version as string;
  } catch {
    return '0.0.0';
  }
})();
