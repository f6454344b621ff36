// Bundles the built CLI (dist/src, from tsc) into dist/bundle: a few files instead of ~190, which
// halves the CPU every zdd command spends before its first line of work (module resolution and
// loading dominate a CLI's start). Entry points keep their names and their places relative to the
// code that finds them (router/router-main.js beside the local provider's chunk, as in dist/src),
// so paths built from import.meta.url (the router process's script, the public API for configs)
// resolve the same way in both layouts. Dependencies stay outside except zod and commander (pure ESM,
// loaded by every command); the AWS SDK, the Kubernetes client, undici, execa, jiti and
// cosmiconfig load from node_modules, and only when a command needs them.
import { rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const BUNDLED = ['zod', 'commander'];
const inside = (id) => BUNDLED.some((p) => id === p || id.startsWith(`${p}/`));

/**
 * zod's ~60 translations of its messages (270 KB, over 40% of the zod chunk) survive tree-shaking
 * because `z.locales` is part of the namespace zdd exports; zdd writes its own messages and keeps
 * zod's English default. Every command paid for parsing them; `z.locales` now holds `en` only.
 */
const ENGLISH_ONLY_LOCALES = fileURLToPath(new URL('./zod-locales-en.mjs', import.meta.url));
const zodLocalesEnglishOnly = {
  name: 'zod-locales-english-only',
  resolveId(source, importer) {
    if (importer && /[\\/]zod[\\/]v4[\\/]/.test(importer) && /(^|\/)locales\/index\.js$/.test(source)) return ENGLISH_ONLY_LOCALES;
    return null;
  },
};

// Written beside the old bundle and swapped in with two renames, so a zdd started during a rebuild
// finds one whole bundle or the other, never a half-written one.
await rm('dist/bundle-next', { recursive: true, force: true });
const bundle = await rolldown({
  input: {
    main: 'dist/src/cli/main.js',
    // Under router/ as in dist/src, so router-process.ts finds it at ./router/router-main.js in both.
    'router/router-main': 'dist/src/providers/local/router/router-main.js',
    index: 'dist/src/index.js',
  },
  platform: 'node',
  plugins: [zodLocalesEnglishOnly],
  external: (id) => id.startsWith('node:') || (!id.startsWith('.') && !id.startsWith('/') && !inside(id)),
  logLevel: 'warn',
});
await bundle.write({
  dir: 'dist/bundle-next',
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: '[name]-[hash].js',
  // Each bundled dependency in a chunk named after it, so a test can still see which ones a command loads.
  codeSplitting: { groups: BUNDLED.map((name) => ({ name, test: new RegExp(`node_modules[\\\\/]${name}[\\\\/]`) })) },
});
await bundle.close();
await rm('dist/bundle-old', { recursive: true, force: true });
await rename('dist/bundle', 'dist/bundle-old').catch((e) => {
  if (e.code !== 'ENOENT') throw e;
});
await rename('dist/bundle-next', 'dist/bundle');
await rm('dist/bundle-old', { recursive: true, force: true });
