import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { assertPrivateSocketDir } from '../../src/providers/local/router-process.js';
import { explain, localProject, type LocalProject } from './e2e-project.js';

/**
 * Issue 22 point 8: when the state folder's path is too long for a unix socket, the local router's
 * socket goes to $TMPDIR/zdd-<uid>. That directory must be this user's alone, or another local user
 * who made it first could answer zdd's admin calls.
 */
describe('the local router\'s fallback socket directory', { timeout: 60_000 }, () => {
  const uid = process.getuid!();
  const savedTmp = process.env.TMPDIR;
  const shortTmp = mkdtempSync('/tmp/zdd-sd-');
  let p: LocalProject | undefined;
  afterAll(async () => {
    await p?.cleanup();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(shortTmp, { recursive: true, force: true });
  });

  it('refuses one that others can write, that is not the user\'s, or that is a symlink', () => {
    const refused = (dir: string) => {
      const err = (() => {
        try {
          assertPrivateSocketDir(dir);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).exitCode).toBe(5);
      return `${(err as ProviderError).message}\n${(err as ProviderError).hint}`;
    };
    const base = mkdtempSync(join(shortTmp, 'unit-'));
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(refused(open)).toMatch(/can be written by other users \(mode 0777\)[\s\S]*rm -rf .*open/);
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(refused(theirs)).toMatch(new RegExp(`belongs to uid 65534, not to this user \\(uid ${uid}\\)`));
    const link = join(base, 'link');
    mkdirSync(join(base, 'target'), { mode: 0o700 });
    symlinkSync(join(base, 'target'), link);
    expect(refused(link)).toMatch(/is a symbolic link/);
    writeFileSync(join(base, 'file'), '');
    expect(refused(join(base, 'file'))).toMatch(/is not a directory/);
    // Missing (zdd makes it 0700) and private are fine.
    assertPrivateSocketDir(join(base, 'missing'));
    mkdirSync(join(base, 'mine'), { mode: 0o700 });
    assertPrivateSocketDir(join(base, 'mine'));
  });

  it('through the binary: a 0777 directory made first by someone else is refused (exit 5, nothing started); a private one works', async () => {
    // A project folder whose path is too long for the socket: the router's socket falls back to $TMPDIR/zdd-<uid>.
    const long = join(shortTmp, 'x'.repeat(100));
    mkdirSync(long);
    process.env.TMPDIR = long;
    p = await localProject();
    process.env.TMPDIR = shortTmp;
    const fallback = join(shortTmp, `zdd-${uid}`);
    mkdirSync(fallback);
    chmodSync(fallback, 0o777);
    const refused = await p.run(['deploy', '--revision', 'v1'], { TMPDIR: shortTmp });
    expect(refused.code, explain(refused)).toBe(5);
    expect(explain(refused)).toContain(`The local router's socket directory ${fallback} can be written by other users (mode 0777)`);
    expect(p.routerState()).toBeNull();
    rmSync(fallback, { recursive: true });
    const ok = await p.run(['deploy', '--revision', 'v1'], { TMPDIR: shortTmp });
    expect(ok.code, explain(ok)).toBe(0);
    const { statSync, readdirSync } = await import('node:fs');
    expect(statSync(fallback).mode & 0o777).toBe(0o700);
    expect(readdirSync(fallback).filter((f) => f.endsWith('.sock'))).toHaveLength(1);
  });
});
