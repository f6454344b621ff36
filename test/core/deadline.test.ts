import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { deadlineSignal } from '../../src/core/deadline.js';

// A real garbage collection, as the load of a busy machine brings one at any moment.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deadlineSignal', () => {
  it('fires at its time even when a garbage collection runs first (AbortSignal.any over AbortSignal.timeout does not: nodejs/node#57736)', async () => {
    const other = new AbortController();
    const { signal } = deadlineSignal(50, other.signal);
    gc();
    await wait(10);
    gc();
    await wait(200);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('fires with the other signal first, and clear() stops the timer', async () => {
    const other = new AbortController();
    const first = deadlineSignal(10_000, other.signal);
    other.abort(new Error('exiting'));
    expect(first.signal.aborted).toBe(true);
    expect((first.signal.reason as Error).message).toBe('exiting');
    first.clear();
    const cleared = deadlineSignal(20);
    cleared.clear();
    await wait(80);
    expect(cleared.signal.aborted).toBe(false);
  });
});
