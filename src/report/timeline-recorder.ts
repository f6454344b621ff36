import { randomBytes } from 'node:crypto';
import type { CheckResult } from '../core/checks.js';
import type { ZddEventWithTime } from '../core/events.js';
import type { DeploymentRecord, StateStore } from '../core/state.js';
import type { TimelineEntry } from '../core/timeline.js';

/** Beyond this many entries, the oldest repeated passing checks give way (a 2-hour bake must not grow the record without bound). */
export const MAX_TIMELINE_ENTRIES = 1500;

/**
 * Listens to the event bus and keeps the timeline of the deploy this process works on; the
 * record store wrapper below writes it into the record at every checkpoint the engine saves.
 */
export class TimelineRecorder {
  /** This process's mark on its entries. */
  readonly run = randomBytes(4).toString('hex');
  private deploymentId: string | null = null;
  private entries: TimelineEntry[] = [];
  private omitted = 0;
  private priorOmitted: number | undefined;

  /** `who`: the person (user@host) this process acts for, noted on its start entry (a promote says who promoted). */
  constructor(private readonly who?: string) {}

  onEvent(e: ZddEventWithTime): void {
    const at = e.time;
    const run = this.run;
    if (e.type === 'deploy.start') {
      if (this.deploymentId !== e.deploymentId) {
        this.entries = [];
        this.omitted = 0;
        this.priorOmitted = undefined;
      }
      this.deploymentId = e.deploymentId;
      this.push({ at, run, kind: 'start', strategy: e.strategy, stable: e.stable?.id ?? null, candidate: e.candidate.id, ...(e.resumedAt !== undefined ? { resumedAt: e.resumedAt } : {}), ...(this.who ? { who: this.who } : {}) });
      return;
    }
    if (this.deploymentId === null) return;
    switch (e.type) {
      case 'step.start':
        return this.push({ at, run, kind: 'step.start', phase: e.phase, index: e.index, total: e.total, description: e.description, step: e.step });
      case 'step.done':
        return this.push({ at, run, kind: 'step.done', phase: e.phase, index: e.index, durationMs: e.durationMs });
      case 'traffic':
        return this.push({ at, run, kind: 'traffic', weights: e.weights, byRevision: e.byRevision });
      case 'paused':
        return this.push({ at, run, kind: 'paused', index: e.index, message: e.message });
      case 'check':
        return this.check(e.result, at);
      case 'hook': {
        if (e.status === 'start') return;
        const exitCode = e.exitCode ?? (e.status === 'ok' ? 0 : exitCodeIn(e.message));
        return this.push({ at, run, kind: 'hook', hook: e.hook, status: e.status, durationMs: e.durationMs, ...(exitCode !== undefined ? { exitCode } : {}), ...(e.message ? { message: e.message } : {}) });
      }
      case 'rollback.start':
        return this.push({ at, run, kind: 'rollback.start', reason: e.reason });
      case 'rollback.done':
        return this.push({ at, run, kind: 'rollback.done', ok: e.ok, message: e.message });
      case 'warn':
        return this.push({ at, run, kind: 'warn', message: e.message });
      default:
        return;
    }
  }

  /** The record as it should be stored: entries other processes wrote, then this process's. */
  attach(record: DeploymentRecord): DeploymentRecord {
    if (record.id !== this.deploymentId) return record;
    this.priorOmitted ??= record.timelineOmitted ?? 0;
    const others = (record.timeline ?? []).filter((t) => t.run !== this.run);
    const omitted = this.priorOmitted + this.omitted;
    return { ...record, timeline: [...others, ...this.entries], ...(omitted ? { timelineOmitted: omitted } : {}) };
  }

  /** A result identical to the check's previous one in the same step only counts up. */
  private check(result: CheckResult, at: string): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const t = this.entries[i];
      if (t.kind === 'step.start') break;
      if (t.kind !== 'check' || t.result.check !== result.check || t.result.gate !== result.gate) continue;
      if (sameResult(t.result, result)) {
        t.count++;
        t.lastAt = at;
        t.result = result;
        return;
      }
      break;
    }
    this.push({ at, run: this.run, kind: 'check', result, count: 1, lastAt: at });
  }

  private push(entry: TimelineEntry): void {
    this.entries.push(entry);
    if (this.entries.length <= MAX_TIMELINE_ENTRIES) return;
    const passing = this.entries.findIndex((t) => t.kind === 'check' && t.result.verdict === 'pass');
    const anyCheck = passing >= 0 ? passing : this.entries.findIndex((t) => t.kind === 'check');
    this.entries.splice(anyCheck >= 0 ? anyCheck : 1, 1);
    this.omitted++;
  }
}

/** Same verdict on the same values (the message may differ in how long the probe took). */
export function sameResult(a: CheckResult, b: CheckResult): boolean {
  if (a.verdict !== b.verdict || !!a.error !== !!b.error || a.threshold !== b.threshold) return false;
  return a.observed || b.observed ? JSON.stringify(a.observed ?? null) === JSON.stringify(b.observed ?? null) : a.message === b.message;
}

function exitCodeIn(message: string | undefined): number | undefined {
  const m = message && /exited with code (\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/**
 * The same store, whose record writes carry the recorder's timeline. Proxies, so that whatever
 * else a store offers (now or later) passes through untouched.
 */
export function recordTimeline(store: StateStore, recorder: TimelineRecorder): StateStore {
  const records = passThrough(store.records, { save: (record: DeploymentRecord) => store.records.save(recorder.attach(record)) });
  return passThrough(store, { records });
}

function passThrough<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof T];
      const v = Reflect.get(t, prop, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}
