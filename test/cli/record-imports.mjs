// Preloaded with `node --import` by a test: records every module URL the process resolves, so the
// test can prove `zdd --help` loads no provider SDK.
import { register } from 'node:module';

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
