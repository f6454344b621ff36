import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/core/plan.js';
import { STEP_HANDLERS, handlerOf } from '../../src/engine/steps/index.js';

/** One step of every kind core/plan.ts knows. */
const ONE_OF_EACH: Step[] = [
  { kind: 'provision', role: 'candidate', replicas: 1 },
  { kind: 'scale', role: 'candidate', replicas: 2 },
  { kind: 'testRoute', role: 'candidate' },
  { kind: 'shiftTraffic', weights: { stable: 50, candidate: 50 } },
  { kind: 'gate', gate: 'smoke' },
  { kind: 'pause', durationMs: 1000 },
  { kind: 'hook', hook: 'preShift' },
  { kind: 'migration', phase: 'expand' },
  { kind: 'flag', flag: 'f', action: 'off' },
  { kind: 'retire', role: 'stable' },
];

const root = join(import.meta.dirname, '../..');
const source = (path: string) => readFileSync(join(root, path), 'utf8');
const importsOf = (path: string) => [...source(path).matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);

describe('step kinds: one handler each, in one table', () => {
  it('every kind has its handler, and the table holds nothing else', () => {
    expect(Object.keys(STEP_HANDLERS).sort()).toEqual(ONE_OF_EACH.map((s) => s.kind).sort());
    for (const step of ONE_OF_EACH) expect(typeof handlerOf(step).run, step.kind).toBe('function');
  });

  it('the flag kind brings its own preflight, bake watch, rollback tolerance and outcome words from flags/', () => {
    const flag = STEP_HANDLERS.flag;
    expect(flag.preflight && flag.watchBake && flag.leftBehind).toBeTruthy();
    expect(flag.inRollback).toMatchObject({ attempts: 3, failsRollback: true });
    expect(importsOf('src/engine/steps/index.ts')).toContain('../../flags/flag-step-kind.js');
  });

  it('the engine\'s commands, runner and outcomes, and the record type, import nothing from flags/ and name no strategy', () => {
    const files = [
      'src/engine/engine.ts',
      'src/engine/run-kit.ts',
      'src/engine/step-runner.ts',
      'src/engine/outcomes.ts',
      'src/engine/rollback.ts',
      'src/core/state.ts',
      ...readdirSync(join(root, 'src/engine/commands')).map((f) => `src/engine/commands/${f}`),
    ];
    for (const file of files) {
      expect(importsOf(file).filter((i) => i.includes('/flags/')), file).toEqual([]);
      expect(source(file), file).not.toMatch(/'(flag-release|canary|blue-green|linear|rolling|hybrid)'/);
    }
  });
});
