import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/core/checks.js';
import type { ZddEventWithTime } from '../../src/core/events.js';
import type { DeploymentRecord } from '../../src/core/state.js';
import { MAX_TIMELINE_ENTRIES, TimelineRecorder } from '../../src/report/timeline-recorder.js';
import { buildReport } from '../../src/report/deploy-report.js';

/** The recorder on its own (pure data in, data out): repeats collapse, the record stays bounded, runs merge. */
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const start = (id: string, resumedAt?: number): ZddEventWithTime => ({ type: 'deploy.start', service: 'web', strategy: 'canary', deploymentId: id, stable: { id: 'v1' }, candidate: { id: 'v2' }, steps: [], ...(resumedAt !== undefined ? { resumedAt } : {}), time: at(0) });
const check = (verdict: CheckResult['verdict'], errorRate: number, s: number): ZddEventWithTime => ({
  type: 'check',
  result: { check: 'errors', type: 'router', gate: 'analysis', verdict, message: `rate ${errorRate}% in ${s}ms`, observed: { errorRate }, threshold: '<= 1%', at: at(s) },
  time: at(s),
});
const record = (over: Partial<DeploymentRecord> = {}): DeploymentRecord =>
  ({ version: 1, id: 'd1', service: 'web', strategy: 'canary', status: 'running', stable: { id: 'v1' }, candidate: { id: 'v2' }, plan: [], stepIndex: 0, weights: { stable: 100, candidate: 0 }, replicas: { stable: 1, candidate: 0 }, stableReplicasBefore: 1, testRoute: null, healthy: ['stable'], startedAt: at(0), updatedAt: at(0), by: { who: 'me', host: 'h', pid: 1, since: at(0) }, verdicts: [], ...over }) as DeploymentRecord;

describe('timeline recorder', () => {
  it('collapses identical results of a check (same verdict and values; the message may differ in timing) and keeps a change', () => {
    const r = new TimelineRecorder();
    r.onEvent(start('d1'));
    r.onEvent({ type: 'step.start', index: 0, total: 1, step: { kind: 'pause', durationMs: 60_000, analysis: ['analysis'] }, description: 'bake 1m', phase: 'deploy', time: at(1) });
    for (let s = 2; s < 8; s++) r.onEvent(check('inconclusive', 0, s));
    r.onEvent(check('fail', 7, 9));
    const rep = buildReport(r.attach(record()));
    expect(rep.steps[0].checks.map((c) => [c.verdict, c.count, c.at, c.lastAt])).toEqual([
      ['inconclusive', 6, at(2), at(7)],
      ['fail', 1, at(9), at(9)],
    ]);
  });

  it('a 2-hour bake stays bounded: the oldest passing results give way, and the record counts them', () => {
    const r = new TimelineRecorder();
    r.onEvent(start('d1'));
    r.onEvent({ type: 'step.start', index: 0, total: 1, step: { kind: 'pause', durationMs: 7_200_000 }, description: 'bake 2h', phase: 'deploy', time: at(1) });
    for (let i = 0; i < 3 * MAX_TIMELINE_ENTRIES; i++) r.onEvent(check('pass', i % 2 ? 0.1 : 0.2, 2));
    r.onEvent(check('fail', 9, 3));
    const saved = r.attach(record());
    expect(saved.timeline!.length).toBeLessThanOrEqual(MAX_TIMELINE_ENTRIES);
    expect(saved.timelineOmitted).toBeGreaterThan(0);
    expect(saved.timeline!.filter((t) => t.kind === 'check' && t.result.verdict === 'fail')).toHaveLength(1);
    expect(saved.timeline![0].kind).toBe('start');
  });

  it('a deploy continued by another process keeps the first process\'s entries and adds its own, once', () => {
    const first = new TimelineRecorder();
    first.onEvent(start('d1'));
    first.onEvent({ type: 'paused', index: 3, message: 'paused', time: at(5) });
    const stored = first.attach(record({ status: 'paused' }));

    const second = new TimelineRecorder();
    second.onEvent(start('d1', 4));
    second.onEvent({ type: 'traffic', weights: { stable: 0, candidate: 100 }, byRevision: { v1: 0, v2: 100 }, verified: true, time: at(9) });
    // The engine saves what it read (with the first run's entries) several times: nothing doubles.
    const again = second.attach(second.attach(stored));
    expect(again.timeline!.map((t) => t.kind)).toEqual(['start', 'paused', 'start', 'traffic']);
    expect(buildReport(again).warnings).toEqual([`continued at step 5 by another process at ${at(0)}`]);
    // Another deploy's record is left alone.
    expect(second.attach(record({ id: 'd2' })).timeline).toBeUndefined();
  });

  it('a manual pause left open by --until-pause is promoted by the run that goes past it (who, when); a run that goes back to reshift does not promote it', () => {
    const first = new TimelineRecorder('alice@ci-1');
    first.onEvent(start('d1'));
    first.onEvent({ type: 'step.start', index: 3, total: 5, step: { kind: 'pause' }, description: 'pause until `zdd promote`', phase: 'deploy', time: at(4) });
    first.onEvent({ type: 'paused', index: 3, message: 'paused', time: at(5) });
    const stored = first.attach(record({ status: 'paused' }));

    const promoter = new TimelineRecorder('bob@laptop');
    promoter.onEvent({ ...start('d1', 4), time: at(30) });
    const pause = buildReport(promoter.attach(stored)).steps.find((s) => s.index === 3)!;
    expect(pause).toMatchObject({ done: true, promoted: { by: 'bob@laptop', at: at(30) }, durationMs: 26_000 });

    const reshift = new TimelineRecorder('bob@laptop');
    reshift.onEvent({ ...start('d1', 2), time: at(30) });
    expect(buildReport(reshift.attach(stored)).steps.find((s) => s.index === 3)).toMatchObject({ done: false });
    expect(buildReport(reshift.attach(stored)).steps.find((s) => s.index === 3)!.promoted).toBeUndefined();
  });
});
