#!/usr/bin/env node
// Thin entry: everything lives in dist/src/cli/main.js, loaded so that `zdd --help` stays fast.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('zdd is not built: run `npm run build` (npm ci runs it for you).\n');
  process.exit(2);
}
const { main: run } = await import(main.href);
await run(process.argv);
