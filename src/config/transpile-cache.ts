import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where jiti keeps transpiled configs: `$XDG_CACHE_HOME/zdd/jiti` or `~/.cache/zdd/jiti`, a folder
 * only this user can read or write (0700), or undefined (no cache, every command transpiles) when
 * it cannot be made or is not this user's own. Why not jiti's default (`node_modules/.cache` or
 * `/tmp/jiti`): whoever can write a cached file there chooses the code zdd runs as its config, and
 * `/tmp/jiti` is open to every user of the machine.
 */
export function transpileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return ownCacheDir('jiti', env);
}

/**
 * Where configs compiled to plain ES modules are kept (src/config/compiled-config.ts):
 * `$XDG_CACHE_HOME/zdd/configs` or `~/.cache/zdd/configs`, with the same rules as jiti's folder.
 */
export function compiledConfigDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return ownCacheDir('configs', env);
}

function ownCacheDir(leaf: string, env: NodeJS.ProcessEnv): string | undefined {
  try {
    const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
    const dir = join(base, 'zdd', leaf);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return undefined;
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}
