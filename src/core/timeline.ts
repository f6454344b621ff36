import type { CheckResult } from './checks.js';
import type { RoleWeights, Step } from './plan.js';

/**
 * What happened during one deploy, in order, as the events said it: the material of `zdd report`.
 * Kept in the deployment record (`timeline`), appended by a listener on the event bus, so the
 * engine knows nothing of it. `run` tells apart the processes that worked on the same deploy (a
 * deploy continued by `zdd promote` in a later CI job has entries from both).
 */
export type TimelineEntry = { at: string; run: string } & (
  | { kind: 'start'; strategy: string; stable: string | null; candidate: string; resumedAt?: number; who?: string }
  | { kind: 'step.start'; phase: 'deploy' | 'rollback'; index: number; total: number; description: string; step: Step }
  | { kind: 'step.done'; phase: 'deploy' | 'rollback'; index: number; durationMs: number }
  | { kind: 'traffic'; weights: RoleWeights; byRevision: Record<string, number> }
  | { kind: 'paused'; index: number; message: string }
  /** Consecutive identical results of one check are one entry: `count` of them, the last at `lastAt`. */
  | { kind: 'check'; result: CheckResult; count: number; lastAt: string }
  | { kind: 'hook'; hook: string; status: 'ok' | 'failed'; durationMs?: number; exitCode?: number; message?: string }
  | { kind: 'rollback.start'; reason: string }
  | { kind: 'rollback.done'; ok: boolean; message: string }
  | { kind: 'warn'; message: string }
  /** A provider's watchdog put stable back after the deploy's process died (written by it while it held the lock). `watchdog`: its name (absent: the local router's dead-man's switch, the first one). */
  | { kind: 'dead-mans-switch'; reason: string; restored: string; weightsBefore: Record<string, number>; lastHeard: string; watchdog?: string }
);
