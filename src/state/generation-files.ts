import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseStateJson, type JsonFileKind } from './atomic-file.js';

/** One stored generation of a value: `gen` is the number to pass to writeNext to replace it. */
export interface Generation<T> {
  gen: number;
  path: string;
  value: T;
}

const NAME = /^(\d{12})\.json$/;
const name = (gen: number) => `${String(gen).padStart(12, '0')}.json`;

/**
 * A value kept as numbered files in a directory (`000000000007.json`); the highest number is the
 * current value. `writeNext(gen)` is a compare-and-swap: it writes a complete temp file and link()s
 * it to number gen+1, which fails (EEXIST) when another writer got there first, so of two writers
 * that read the same generation exactly one wins (link() is atomic on local file systems). Nothing is ever
 * rewritten in place, so a reader or a crash never sees half a file, and no lock file guards the
 * lock (nothing to recover when a writer dies mid-write: at worst a temp file is left).
 */
export class GenerationFiles<T> {
  constructor(readonly dir: string, private readonly kind: JsonFileKind<T>) {}

  private async generations(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names.flatMap((n) => {
      const m = NAME.exec(n);
      return m ? [Number(m[1])] : [];
    });
  }

  /** The current generation's number and path, without parsing it (null when there is none). */
  async currentFile(): Promise<{ gen: number; path: string } | null> {
    const gens = await this.generations();
    if (gens.length === 0) return null;
    const gen = Math.max(...gens);
    return { gen, path: join(this.dir, name(gen)) };
  }

  /** The current value, or null when none was ever written. A damaged file is an error naming it. */
  async current(): Promise<Generation<T> | null> {
    // Bounded: a file vanishes only when a newer one was written (pruning), so a retry sees progress.
    // Stryker disable next-line EqualityOperator: 100 or 101 tries, the bound is arbitrary; that there is one is tested
    for (let attempt = 0; attempt < 100; attempt++) {
      const file = await this.currentFile();
      if (!file) return null;
      let text: string;
      try {
        text = await readFile(file.path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      return { ...file, value: parseStateJson(text, file.path, this.kind) };
    }
    throw new Error(`${this.dir} changed 100 times while it was being read`);
  }

  /** Write `value` as generation gen+1 if no one else did; false when another writer won. */
  async writeNext(gen: number, value: T): Promise<boolean> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const next = gen + 1;
    const target = join(this.dir, name(next));
    const tmp = join(this.dir, `.${name(next)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(value, null, 2));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, target);
    } catch (e) {
      // Stryker disable next-line ConditionalExpression: link() fails otherwise only on a full disk or a file's link limit, which no test can make
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: the temp file was just written; force only matters if it were gone
      await rm(tmp, { force: true });
    }
    const gens = await this.generations();
    if (Math.max(...gens) !== next) {
      // A writer that read long ago can create a number pruned since; a newer generation exists,
      // so this write never was the current value (or was replaced at once): it does not count.
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: the target was just linked; force only matters if it were gone
      await rm(target, { force: true });
      return false;
    }
    // Keep the one before as well, for a reader that listed the directory a moment ago.
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: force only matters when a concurrent writer pruned the same file between the listing and rm()
    await Promise.all(gens.filter((g) => g < gen).map((g) => rm(join(this.dir, name(g)), { force: true })));
    return true;
  }
}
