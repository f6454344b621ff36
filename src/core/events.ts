import type { CheckResult } from './checks.js';
import type { RoleWeights, Step } from './plan.js';
import type { RevisionSpec } from './provider.js';

/** Everything the engine tells the world. Reporters listen; the engine never prints. */
export type ZddEvent =
  | { type: 'deploy.start'; service: string; strategy: string; deploymentId: string; stable: RevisionSpec | null; candidate: RevisionSpec; steps: Step[]; resumedAt?: number; kind?: 'deploy' | 'restore' }
  | { type: 'step.start'; index: number; total: number; step: Step; description: string; phase: 'deploy' | 'rollback' }
  | { type: 'step.done'; index: number; total: number; step: Step; durationMs: number; phase: 'deploy' | 'rollback' }
  | { type: 'traffic'; weights: RoleWeights; byRevision: Record<string, number>; verified: boolean }
  | { type: 'bake.progress'; index: number; elapsedMs: number; remainingMs: number }
  | { type: 'paused'; index: number; message: string }
  | { type: 'check'; result: CheckResult }
  | { type: 'hook'; hook: string; status: 'start' | 'ok' | 'failed'; durationMs?: number; exitCode?: number; message?: string }
  | { type: 'rollback.start'; reason: string }
  | { type: 'rollback.done'; ok: boolean; message: string }
  | { type: 'info'; message: string }
  | { type: 'warn'; message: string }
  | { type: 'done'; result: DoneResult; exitCode: number; message: string; hint?: string };

export type DoneResult = 'succeeded' | 'rolled-back' | 'rollback-failed' | 'interrupted' | 'failed' | 'paused' | 'nothing-to-do' | 'error';

export type ZddEventWithTime = ZddEvent & { time: string };

export interface EventSink {
  emit(event: ZddEvent): void;
}

/** Fans events out to listeners; stamps each with an ISO time. */
export class EventBus implements EventSink {
  private listeners: ((e: ZddEventWithTime) => void)[] = [];
  constructor(private readonly now: () => number = Date.now) {}
  on(listener: (e: ZddEventWithTime) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
  emit(event: ZddEvent): void {
    const stamped = { ...event, time: new Date(this.now()).toISOString() } as ZddEventWithTime;
    for (const l of this.listeners) l(stamped);
  }
}
