import type { ZddEventWithTime } from '../core/events.js';

/** Turns engine events into output. Several can listen at once; none changes anything. */
export interface Reporter {
  /** Handle one event (synchronously: output must not lag behind the deploy). */
  onEvent(event: ZddEventWithTime): void;
  /** Flush and stop spinners; called once before exit. */
  close?(): void;
}

/** `stable v1 ███████████████░░░░░ 75% | candidate v2 25%` — bar only where it helps. */
export function weightBar(stable: number, width = 20): string {
  const filled = Math.round((stable / 100) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** PASS / FAIL / INCONCLUSIVE, or ERROR when the probe could not measure at all. */
export function verdictLabel(r: { verdict: string; error?: boolean }): string {
  return r.error ? 'ERROR' : r.verdict.toUpperCase();
}
