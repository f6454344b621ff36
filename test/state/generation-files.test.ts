import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GenerationFiles } from '../../src/state/generation-files.js';

/**
 * The compare-and-swap file store under the file lock: numbered generations, of which the highest
 * is current. Of two writers that read the same generation exactly one wins, and nothing a
 * reader may still be looking at is rewritten.
 */

interface Value {
  n: number;
}
const isValue = (v: unknown): v is Value => typeof (v as Value | null)?.n === 'number';

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'zdd-gen-'));
  dir = join(root, 'lock');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const files = () => readdirSync(dir).sort();
const store = () => new GenerationFiles<Value>(dir, { what: 'Lock file', hint: 'fix it by hand', valid: isValue });

describe('generation files', () => {
  it('nothing written yet: no current value, not even a directory', async () => {
    expect(await store().current()).toBeNull();
    expect(await store().currentFile()).toBeNull();
  });

  it('each write is the next number, private to the user, and becomes current', async () => {
    const s = store();
    expect(await s.writeNext(0, { n: 1 })).toBe(true);
    expect(await s.current()).toEqual({ gen: 1, path: join(dir, '000000000001.json'), value: { n: 1 } });
    expect(await s.writeNext(1, { n: 2 })).toBe(true);
    expect((await s.current())?.value).toEqual({ n: 2 });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '000000000002.json')).mode & 0o777).toBe(0o600);
  });

  it('of two writers that read the same generation, exactly one wins; the loser leaves nothing behind', async () => {
    const s = store();
    await s.writeNext(0, { n: 1 });
    const results = await Promise.all([s.writeNext(1, { n: 10 }), store().writeNext(1, { n: 20 })]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? 10 : 20;
    expect((await s.current())?.value).toEqual({ n: winner });
    expect(files()).toEqual(['000000000001.json', '000000000002.json']);
    expect(await s.writeNext(1, { n: 30 })).toBe(false);
  });

  it('keeps the current generation and the one before it (for a reader that listed a moment ago), no older', async () => {
    const s = store();
    for (let gen = 0; gen < 5; gen++) expect(await s.writeNext(gen, { n: gen + 1 })).toBe(true);
    expect(files()).toEqual(['000000000004.json', '000000000005.json']);
  });

  it('a writer that read long ago, whose next number was pruned since, does not count and leaves no file', async () => {
    const s = store();
    for (let gen = 0; gen < 4; gen++) await s.writeNext(gen, { n: gen + 1 });
    expect(files()).toEqual(['000000000003.json', '000000000004.json']);
    expect(await s.writeNext(1, { n: 99 })).toBe(false);
    expect(files()).toEqual(['000000000003.json', '000000000004.json']);
    expect((await s.current())?.value).toEqual({ n: 4 });
  });

  it('other files in the directory are ignored; the highest number is current even past 9', async () => {
    const s = store();
    for (let gen = 0; gen < 11; gen++) await s.writeNext(gen, { n: gen + 1 });
    writeFileSync(join(dir, 'notes.json'), '{}');
    writeFileSync(join(dir, '99.json'), '{"n": 99}');
    writeFileSync(join(dir, '.000000000012.json.1.abcd.tmp'), 'half');
    writeFileSync(join(dir, 'x000000000013.json'), '{"n": 13}');
    writeFileSync(join(dir, '000000000014.json.bak'), '{"n": 14}');
    expect(await s.current()).toMatchObject({ gen: 11, value: { n: 11 } });
  });

  it('a damaged generation is an error naming the file and the fix', async () => {
    const s = store();
    await s.writeNext(0, { n: 1 });
    writeFileSync(join(dir, '000000000001.json'), '{"n": "one"}');
    await expect(s.current()).rejects.toThrow(/Lock file .*000000000001\.json/);
    await expect(s.current()).rejects.toMatchObject({ hint: expect.stringContaining('fix it by hand') });
  });

  it('a directory that cannot be read is an error, not "no lock"', async () => {
    writeFileSync(dir, 'not a directory');
    await expect(store().current()).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
  it('a current generation that vanishes at every read (a writer pruning it) is read again, a bounded number of times, then an error naming the directory', async () => {
    const s = store();
    await s.writeNext(0, { n: 1 });
    // Listed but gone when read, at every try: what a reader sees when it loses the race to a pruning writer.
    symlinkSync(join(root, 'pruned'), join(dir, '000000000002.json'));
    await expect(s.current()).rejects.toThrow(`${dir} changed 100 times while it was being read`);
  });

  it('a current generation that cannot be read for another reason is that error at once, not a retry', async () => {
    const s = store();
    await s.writeNext(0, { n: 1 });
    mkdirSync(join(dir, '000000000002.json'));
    await expect(s.current()).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('writes leave no file open in the process (a long-running deploy writes its lock at every heartbeat)', async () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const s = store();
    await s.writeNext(0, { n: 0 });
    const before = open();
    for (let gen = 1; gen <= 20; gen++) await s.writeNext(gen, { n: gen });
    expect(await s.writeNext(3, { n: 99 })).toBe(false);
    expect(open()).toBe(before);
  });
});
