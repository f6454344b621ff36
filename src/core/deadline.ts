/**
 * An abort signal that fires after `ms` (reason: a DOMException named TimeoutError, as
 * AbortSignal.timeout's) or when any of `others` does; `clear()` stops its timer.
 *
 * Not `AbortSignal.any([AbortSignal.timeout(ms), …])`: AbortSignal.any() holds its sources weakly and
 * Node 20 lets a timeout signal that nothing else references be garbage-collected before it fires
 * (nodejs/node#57736). Under load that happened here: a 300 ms probe ran 25 s.
 */
export function deadlineSignal(ms: number, ...others: (AbortSignal | undefined)[]): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  const sources = others.filter((s): s is AbortSignal => s !== undefined);
  return { signal: sources.length ? AbortSignal.any([controller.signal, ...sources]) : controller.signal, clear: () => clearTimeout(timer) };
}
