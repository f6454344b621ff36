import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANSI, makeProject, parseNdjson, ROOT, runZdd, ZDD_BIN } from './cli-harness.js';

describe('zdd CLI basics', () => {
  it('--help lists every command and the exit codes, and loads neither the config loader nor any AWS SDK', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-help-'));
    const log = join(dir, 'imports.log');
    writeFileSync(log, '');
    const r = spawnSync(process.execPath, ['--import', join(ROOT, 'test/cli/record-imports.mjs'), ZDD_BIN, '--help'], {
      env: { ...process.env, ZDD_IMPORT_LOG: log },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    for (const cmd of ['deploy', 'plan', 'rollback', 'status', 'promote', 'abort', 'validate', 'init', 'lock', 'retire', 'down']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
    }
    expect(r.stdout).toContain('130  interrupted');
    const imports = readFileSync(log, 'utf8');
    expect(imports).toContain('commander');
    expect(imports).not.toMatch(/@aws-sdk|@smithy/);
    expect(imports).not.toMatch(/cosmiconfig|jiti|zod|execa|undici/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--version prints the package version', async () => {
    const r = await runZdd(['--version'], ROOT);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('an unknown command or flag is a usage error (exit 2)', async () => {
    expect((await runZdd(['bogus'], ROOT)).code).toBe(2);
    const r = await runZdd(['deploy', '--revsion', 'v2'], ROOT);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--revsion'");
  });

  it('deploy without --revision or --image says how to call it (exit 2)', async () => {
    const p = makeProject();
    try {
      const r = await p.run(['deploy']);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain('deploy needs --revision <id> or --image <ref>');
      expect(p.fakeState().calls).toHaveLength(0);
    } finally {
      p.cleanup();
    }
  });

  it('an unknown --strategy is a usage error naming the strategies there are', async () => {
    const p = makeProject();
    try {
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'yolo']);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain('Unknown strategy "yolo"');
      expect(r.stdout).toContain('canary, linear, blue-green, rolling');
      expect(p.fakeState().calls.filter((c) => c.method !== 'snapshot' && c.method !== 'preflight')).toHaveLength(0);
    } finally {
      p.cleanup();
    }
  });

  it('no config in the directory: exit 2 with how to make one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-empty-'));
    try {
      const r = await runZdd(['status'], dir);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain('No zdd config found');
      expect(r.stdout).toContain('zdd init');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy through the binary (fake provider, fast clock)', () => {

  it('plain output has no ANSI codes, reports each step and verified traffic, exit 0', async () => {
    const p = makeProject();
    try {
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { fastClock: true });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(ANSI);
      expect(r.stdout).toMatch(/^\S+Z step 1\/\d+: /m);
      expect(r.stdout).toContain('traffic verified: v1 80% | v2 20%');
      expect(r.stdout).toContain('succeeded (exit 0): Deployed v2');
      expect(p.fakeState().weights).toEqual({ v2: 100 });
    } finally {
      p.cleanup();
    }
  });

  it('--json prints valid NDJSON line by line, ending with a done event with the exit code', async () => {
    const p = makeProject();
    try {
      p.fakeState();
      const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'blue-green', '--json'], { fastClock: true });
      expect(r.code).toBe(0);
      const events = parseNdjson(r.stdout);
      expect(events[0].type).toBe('deploy.start');
      expect(events.at(-1)).toMatchObject({ type: 'done', result: 'succeeded', exitCode: 0 });
      expect(events.filter((e) => e.type === 'traffic')).not.toHaveLength(0);
      expect(r.stderr).not.toMatch(ANSI);
    } finally {
      p.cleanup();
    }
  });

  it('a failing gate rolls back: exit 1, stable 100%, the message names the check', async () => {
    const p = makeProject({ extra: `hooks: { postProvision: 'echo migrations broke >&2; exit 3' },` });
    try {
      const r = await p.run(['deploy', '--revision', 'v2'], { fastClock: true });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('Hook postProvision (`echo migrations broke >&2; exit 3`) exited with code 3');
      expect(r.stdout).toContain('migrations broke');
      expect(p.fakeState().weights).toEqual({ v1: 100 });
    } finally {
      p.cleanup();
    }
  });

  it('plan prints exactly the steps deploy runs, and changes nothing', async () => {
    const p = makeProject();
    try {
      const plan = await p.run(['plan', '--revision', 'v2', '--strategy', 'canary', '--json']);
      expect(plan.code).toBe(0);
      const planned = parseNdjson(plan.stdout).find((e) => e.type === 'plan') as { steps: unknown[] };
      expect(p.fakeState().calls.every((c) => c.method === 'snapshot' || c.method === 'preflight')).toBe(true);
      const dep = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary', '--json'], { fastClock: true });
      const started = parseNdjson(dep.stdout).find((e) => e.type === 'deploy.start') as { steps: unknown[] };
      expect(started.steps).toEqual(planned.steps);
      const human = await p.run(['plan', '--revision', 'v3', '--strategy', 'canary']);
      expect(human.stdout).toMatch(/Plan for web: v2 → v3 with canary \(\d+ steps\)/);
      expect(human.stdout).toContain('shift traffic: stable 80% | candidate 20%');
      // The fake provider's router names no revision in its answers: the plan says the check is off, and how to turn it on.
      expect(human.stdout).toContain('note: observed split: off (the router does not name the revision in its answers; set observedSplit.header');
    } finally {
      p.cleanup();
    }
  });

  it('with GITHUB_ACTIONS=true it writes a step summary and ::error:: for a failure', async () => {
    const p = makeProject({ extra: `hooks: { preShift: 'exit 7' },` });
    const summary = join(p.dir, 'summary.md');
    try {
      const r = await p.run(['deploy', '--revision', 'v2'], { env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary }, fastClock: true });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^::error title=zdd rollback::/m);
      const md = readFileSync(summary, 'utf8');
      expect(md).toContain('### zdd: web v1 → v2 (canary)');
      expect(md).toContain('| phase | step | what | took |');
      expect(md).toContain('rolled-back');
    } finally {
      p.cleanup();
    }
  });
});
