import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { ZddError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { dirname } from 'node:path';

/** Write a file so that readers see the old or the new content, never half: temp file, fsync, rename. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** How to name a state file in messages, what to do when it is damaged, and which shape it must have. */
export interface JsonFileKind<T> {
  /** "State file", "Lock file", "Deployment record" … */
  what?: string;
  hint?: string;
  /** True when the parsed value has the file's shape. */
  valid?: (value: unknown) => value is T;
}

const DEFAULT_HINT = 'Restore it from the records/ folder next to it, or move it away if you know production is on stable.';

/** Read a JSON state file: null when it does not exist; a clear error naming it when it is empty, not JSON, or not the expected shape. */
export async function readJsonFile<T>(path: string, kind: JsonFileKind<T> = {}): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseStateJson(text, path, kind);
}

/** Parse the text of a state file (see readJsonFile). */
export function parseStateJson<T>(text: string, where: string, kind: JsonFileKind<T> = {}): T {
  const what = kind.what ?? 'State file';
  let problem: string | undefined;
  let value: unknown;
  if (text.trim() === '') problem = 'is empty';
  else {
    try {
      value = JSON.parse(text);
      if (kind.valid && !kind.valid(value)) problem = 'is valid JSON but not what zdd wrote there';
    } catch {
      problem = 'is not valid JSON';
    }
  }
  if (problem) {
    throw new ZddError('state-corrupt', `${what} ${where} ${problem}`, { exitCode: ExitCode.Usage, hint: kind.hint ?? DEFAULT_HINT });
  }
  return value as T;
}
