#!/usr/bin/env node
// Thin entry: everything lives in dist/src/cli/main.js, loaded so that `zdd --help` stays fast.
import { existsSync, readFileSync } from 'node:fs';

// A reader that goes away (`zdd status | head -1`) must neither stop zdd mid-command (a deploy goes
// on to its end whatever happens to its output) nor print a stack trace: the rest of the output is
// dropped, and the command ends with its own exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
    stream.write = () => true;
  });
}

// `zdd --version` alone answers before any module loads (commander's own -V/--version does the same
// when it comes with other arguments).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  // The bundle (scripts/bundle.mjs) when it is built: a few files to load instead of ~190.
  const bundled = new URL('../dist/bundle/main.js', import.meta.url);
  const main = existsSync(bundled) ? bundled : new URL('../dist/src/cli/main.js', import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write('zdd is not built: run `npm run build` (npm ci runs it for you).\n');
    process.exit(2);
  }
  const { main: run } = await import(main.href);
  await run(process.argv);
}
