import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject } from '../cli/cli-harness.js';
import { GithubReporter } from '../../src/reporters/github-reporter.js';

/**
 * The GitHub step summary through the built binary (fake provider: the summary is about output,
 * not a platform): one row per check with its latest verdict and how many results it gave,
 * instead of one row per result.
 */
describe('GitHub step summary', () => {
  const p = makeProject({ fake: { failFile: undefined } });
  afterAll(() => p.cleanup());

  it('lists each check once with its latest verdict and a count', async () => {
    const summary = join(p.dir, 'summary.md');
    writeFileSync(summary, '');
    const r = await p.run(['deploy', '--revision', 'v2'], { fastClock: true, env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(r.code, r.stdout).toBe(0);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('| check | gate | latest verdict | observed | threshold | results |');
    const analysis = md.split('\n').filter((l) => /^\| command#0 \| analysis \|/.test(l));
    expect(analysis).toHaveLength(1);
    const count = Number(/\| (\d+) \|$/.exec(analysis[0])?.[1]);
    expect(count, analysis[0]).toBeGreaterThan(2);
    expect(analysis[0]).toMatch(/^\| command#0 \| analysis \| PASS \| exitCode=0 \| exit code 0 \| \d+ \|$/);
    expect(md.split('\n').filter((l) => /^\| command#0 \| smoke \|/.test(l))).toHaveLength(1);
  });

  it('a failed check shows FAIL with the values it saw', async () => {
    const summary = join(p.dir, 'summary2.md');
    writeFileSync(summary, '');
    writeFileSync(p.failFile, '');
    const r = await p.run(['deploy', '--revision', 'v3'], { fastClock: true, env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(r.code, r.stdout).toBe(1);
    const md = readFileSync(summary, 'utf8');
    expect(md).toMatch(/^\| command#0 \| smoke \| FAIL \| exitCode=1, signal=null \| exit code 0 \| 1 \|$/m);
  });

  it('six identical inconclusive results then a pass are one row: latest PASS, 7 results by verdict', () => {
    const path = join(p.dir, 'summary3.md');
    writeFileSync(path, '');
    const reporter = new GithubReporter(() => undefined, path);
    const result = (verdict: 'pass' | 'inconclusive') => ({ check: 'errors', type: 'prometheus', gate: 'analysis', verdict, message: 'm', observed: { candidate: verdict === 'pass' ? 0.1 : null }, threshold: '<= 1%', at: '' });
    const time = new Date(0).toISOString();
    for (let i = 0; i < 6; i++) reporter.onEvent({ type: 'check', result: result('inconclusive'), time });
    reporter.onEvent({ type: 'check', result: result('pass'), time });
    reporter.onEvent({ type: 'done', result: 'succeeded', exitCode: 0, message: 'ok', time });
    const rows = readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('| errors'));
    expect(rows).toEqual(['| errors | analysis | PASS | candidate=0.1 | <= 1% | 7 (6 inconclusive, 1 pass) |']);
  });
});
