// Preloaded with `node --import` by a test: records every module the process resolves, ES modules
// (a resolve hook) and CommonJS ones loaded with require() (which ESM hooks do not see on Node 20),
// so the test can prove e.g. that `zdd --help` loads no provider SDK and no config loader.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

register(
  `data:text/javascript,${encodeURIComponent(`
    import { appendFileSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const r = await next(specifier, context);
      if (process.env.ZDD_IMPORT_LOG) appendFileSync(process.env.ZDD_IMPORT_LOG, r.url + '\\n');
      return r;
    }
  `)}`,
);

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  if (process.env.ZDD_IMPORT_LOG && file.startsWith('/')) appendFileSync(process.env.ZDD_IMPORT_LOG, `${pathToFileURL(file).href}\n`);
  return file;
};
