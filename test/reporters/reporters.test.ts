import { Chalk } from 'chalk';
import type { Ora } from 'ora';
import { describe, expect, it } from 'vitest';
import type { ZddEvent, ZddEventWithTime } from '../../src/core/events.js';
import { PlainReporter } from '../../src/reporters/plain-reporter.js';
import { TtyReporter } from '../../src/reporters/tty-reporter.js';

const step = { kind: 'pause' as const, durationMs: 30_000, analysis: ['analysis'] };
let t = Date.UTC(2026, 10, 25, 3, 0, 0);
const at = (e: ZddEvent, ms = 0): ZddEventWithTime => ({ ...e, time: new Date((t += ms)).toISOString() }) as ZddEventWithTime;
const pass = { type: 'check', result: { check: 'error-rate', type: 'router', gate: 'analysis', verdict: 'pass', message: 'candidate 5xx rate 0.0%', at: '' } } as const;

/** Records what a spinner was asked to show (the real ora draws on a TTY; its output is not under test). */
function recordingSpinner(log: string[]) {
  return (text: string) => {
    const s = {
      text,
      start: () => s,
      stop: () => s,
      succeed: (t2?: string) => (log.push(`✔ ${t2 ?? s.text}`), s),
      fail: (t2?: string) => (log.push(`✖ ${t2 ?? s.text}`), s),
      clear: () => s,
      render: () => (log.push(`~ ${s.text}`), s),
    };
    return s as unknown as Ora;
  };
}

describe('TTY reporter', () => {
  it('shows the weight bar after a shift, time left in a bake, and a check line only when its verdict changes', () => {
    const log: string[] = [];
    const r = new TtyReporter(new Chalk({ level: 0 }), recordingSpinner(log), (x) => log.push(x.trimEnd()));
    r.onEvent(at({ type: 'step.start', index: 3, total: 9, step: { kind: 'shiftTraffic', weights: { stable: 75, candidate: 25 } }, description: 'shift traffic: stable 75% | candidate 25%', phase: 'deploy' }));
    r.onEvent(at({ type: 'traffic', weights: { stable: 75, candidate: 25 }, byRevision: { v1: 75, v2: 25 }, verified: true }));
    r.onEvent(at({ type: 'step.done', index: 3, total: 9, step: { kind: 'shiftTraffic', weights: { stable: 75, candidate: 25 } }, durationMs: 40, phase: 'deploy' }));
    expect(log.at(-1)).toBe('✔ [4/9] shift traffic: stable 75% | candidate 25% 40ms  stable 75% ███████████████░░░░░ candidate 25%');
    r.onEvent(at({ type: 'step.start', index: 4, total: 9, step, description: 'bake 30s with analysis (analysis)', phase: 'deploy' }));
    r.onEvent(at(pass));
    r.onEvent(at(pass, 5000));
    r.onEvent(at(pass, 5000));
    expect(log.filter((l) => l.includes('✓ error-rate'))).toHaveLength(1);
    r.onEvent(at({ type: 'bake.progress', index: 4, elapsedMs: 12_000, remainingMs: 18_000 }));
    r.onEvent(at({ type: 'check', result: { ...pass.result, verdict: 'fail', message: 'candidate 5xx rate 31.0% > 5%' } }));
    expect(log).toContain('    ✗ error-rate candidate 5xx rate 31.0% > 5%');
    const rendered = log.filter((l) => l.startsWith('~ ')).at(-1)!;
    expect(rendered).toContain('— 18s left');
    expect(rendered).toContain('stable 75% ███████████████░░░░░ candidate 25%');
  });
});

describe('plain reporter', () => {
  it('says a check that keeps passing once per 10 s, and every other verdict each time', () => {
    const lines: string[] = [];
    const r = new PlainReporter((l) => lines.push(l));
    r.onEvent(at(pass));
    r.onEvent(at(pass, 3000));
    r.onEvent(at(pass, 3000));
    r.onEvent(at(pass, 5000));
    r.onEvent(at({ type: 'check', result: { ...pass.result, verdict: 'inconclusive', message: 'too little traffic' } }, 100));
    r.onEvent(at({ type: 'check', result: { ...pass.result, verdict: 'inconclusive', message: 'too little traffic' } }, 100));
    const checks = lines.filter((l) => l.includes('check error-rate'));
    expect(checks.map((l) => l.split(' ').slice(1).join(' ').trim())).toEqual([
      'check error-rate (router, gate analysis): PASS candidate 5xx rate 0.0%',
      'check error-rate (router, gate analysis): PASS candidate 5xx rate 0.0%',
      'check error-rate (router, gate analysis): INCONCLUSIVE too little traffic',
      'check error-rate (router, gate analysis): INCONCLUSIVE too little traffic',
    ]);
    expect(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z /.test(l))).toBe(true);
  });
});
