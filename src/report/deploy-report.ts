import type { CheckResult } from '../core/checks.js';
import type { RoleWeights } from '../core/plan.js';
import { describeStep } from '../core/plan.js';
import type { DeploymentRecord } from '../core/state.js';

/** One check's result in a step: `count` identical results in a row, first at `at`, last at `lastAt`. */
export interface ReportCheck {
  check: string;
  type: string;
  gate?: string;
  verdict: CheckResult['verdict'];
  error?: boolean;
  message: string;
  observed?: CheckResult['observed'];
  threshold?: string;
  count: number;
  at: string;
  lastAt: string;
}

export interface ReportHook {
  hook: string;
  status: 'ok' | 'failed';
  exitCode?: number;
  durationMs?: number;
  message?: string;
}

export interface ReportStep {
  phase: 'deploy' | 'rollback';
  /** 0-based index in its phase's plan. */
  index: number;
  total: number;
  description: string;
  startedAt?: string;
  durationMs?: number;
  /** Whether the step finished (false: it failed, was cut short or is still running). */
  done: boolean;
  /** Weights read back from the router during the step. */
  weights?: RoleWeights;
  byRevision?: Record<string, number>;
  paused?: string;
  /** A manual pause that a later run went past: `zdd promote` (by whom, when). */
  promoted?: { at: string; by?: string };
  checks: ReportCheck[];
  hooks: ReportHook[];
}

/** One deploy, told step by step: what `zdd report` prints as Markdown or JSON. */
export interface DeployReport {
  type: 'report';
  id: string;
  service: string;
  env?: string;
  strategy: string;
  result: DeploymentRecord['status'];
  stable: string | null;
  candidate: string;
  image?: string;
  who: string;
  host: string;
  ciRunUrl?: string;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  steps: ReportStep[];
  rollback?: { reason: string; startedAt: string; ok?: boolean; message?: string };
  /** The local router's dead-man's switch put stable back after the deploy's process died. */
  deadMansSwitch?: { at: string; reason: string; restored: string; weightsBefore: Record<string, number>; lastHeard: string };
  error?: DeploymentRecord['error'];
  warnings: string[];
  /** Started with --force despite these preflight findings. */
  forced?: string[];
  /** True when the record has no timeline (written before reports existed): steps come from the plan only. */
  planOnly: boolean;
  timelineOmitted?: number;
}

export function buildReport(record: DeploymentRecord): DeployReport {
  const report: DeployReport = {
    type: 'report',
    id: record.id,
    service: record.service,
    ...(record.env ? { env: record.env } : {}),
    strategy: record.strategy,
    result: record.status,
    stable: record.stable?.id ?? null,
    candidate: record.candidate.id,
    ...(record.candidate.image ? { image: record.candidate.image } : {}),
    who: record.by.who,
    host: record.by.host,
    ...(record.by.ciRunUrl ? { ciRunUrl: record.by.ciRunUrl } : {}),
    startedAt: record.startedAt,
    ...(record.finishedAt ? { finishedAt: record.finishedAt, durationMs: Date.parse(record.finishedAt) - Date.parse(record.startedAt) } : {}),
    steps: [],
    ...(record.error ? { error: record.error } : {}),
    ...(record.forced ? { forced: record.forced.findings } : {}),
    warnings: [],
    planOnly: !record.timeline?.length,
    ...(record.timelineOmitted ? { timelineOmitted: record.timelineOmitted } : {}),
  };
  if (record.rollback) report.rollback = { reason: record.rollback.reason, startedAt: record.rollback.startedAt };
  if (report.planOnly) {
    report.steps = record.plan.map((step, index) => ({ phase: 'deploy', index, total: record.plan.length, description: describeStep(step), done: index < record.stepIndex, checks: [], hooks: [] }));
    return report;
  }

  let current: ReportStep | undefined;
  let currentIsPause = false;
  // Results seen before the first step (a resumed deploy's first checks) still belong somewhere.
  const loose: ReportStep = { phase: 'deploy', index: -1, total: record.plan.length, description: 'before the first step', done: true, checks: [], hooks: [] };
  const step = () => current ?? loose;
  for (const t of record.timeline ?? []) {
    switch (t.kind) {
      case 'step.start':
        closeOpen(current, t.at);
        current = { phase: t.phase, index: t.index, total: t.total, description: t.description, startedAt: t.at, done: false, checks: [], hooks: [] };
        currentIsPause = t.step.kind === 'pause';
        report.steps.push(current);
        break;
      case 'step.done':
        if (current && current.index === t.index && current.phase === t.phase) {
          current.durationMs = t.durationMs;
          current.done = true;
        }
        break;
      case 'traffic':
        step().weights = t.weights;
        step().byRevision = t.byRevision;
        break;
      case 'paused':
        step().paused = t.message;
        break;
      case 'check': {
        const r = t.result;
        step().checks.push({ check: r.check, type: r.type, ...(r.gate ? { gate: r.gate } : {}), verdict: r.verdict, ...(r.error ? { error: true } : {}), message: r.message, ...(r.observed ? { observed: r.observed } : {}), ...(r.threshold ? { threshold: r.threshold } : {}), count: t.count, at: t.at, lastAt: t.lastAt });
        break;
      }
      case 'hook':
        step().hooks.push({ hook: t.hook, status: t.status, ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}), ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}), ...(t.message ? { message: t.message } : {}) });
        break;
      case 'rollback.start':
        closeOpen(current, t.at);
        report.rollback = { reason: t.reason, startedAt: t.at };
        break;
      case 'rollback.done':
        if (report.rollback) Object.assign(report.rollback, { ok: t.ok, message: t.message });
        break;
      case 'warn':
        report.warnings.push(t.message);
        break;
      case 'start':
        if (t.resumedAt === undefined) break;
        // A run that stopped at a manual pause (--until-pause) left it open; this one went past it: promoted.
        if (current && !current.done && currentIsPause && current.phase === 'deploy' && t.resumedAt > current.index) {
          current.done = true;
          current.promoted = { at: t.at, ...(t.who ? { by: t.who } : {}) };
          closeOpen(current, t.at);
        }
        report.warnings.push(`continued at step ${t.resumedAt + 1} by another process${t.who ? ` (${t.who})` : ''} at ${t.at}`);
        break;
      case 'dead-mans-switch':
        closeOpen(current, t.at);
        report.deadMansSwitch = { at: t.at, reason: t.reason, restored: t.restored, weightsBefore: t.weightsBefore, lastHeard: t.lastHeard };
        break;
    }
  }
  if (record.finishedAt) closeOpen(current, record.finishedAt);
  // The record is saved before the engine says "rollback done": its status says how it ended.
  if (report.rollback && report.rollback.ok === undefined && (record.status === 'rolled-back' || record.status === 'rollback-failed')) {
    report.rollback.ok = record.status === 'rolled-back';
    report.rollback.message = record.status === 'rolled-back' ? `production on stable ${record.stable?.id ?? '(none)'}` : (record.error?.message ?? 'rollback failed');
  }
  if (loose.checks.length || loose.hooks.length) report.steps.unshift(loose);
  return report;
}

/** A step left open (it failed, or the record was saved before its end) lasted until the next thing happened. */
function closeOpen(step: ReportStep | undefined, at: string): void {
  if (step && step.durationMs === undefined && step.startedAt) step.durationMs = Math.max(0, Date.parse(at) - Date.parse(step.startedAt));
}
