import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/commands/status/render.js';
import { makeProject, type Project } from './cli-harness.js';

/**
 * zdd's own failures (issue 8, part 2) through the built binary with the file-backed fake
 * provider: the fake's state file shows every provider call a killed or stopped zdd made.
 */
let p: Project | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

const MANUAL = '[{ weight: 20, pause: {} }, { weight: 100 }]';

function lockFile(project: Project): string {
  // The file lock is numbered generation files (src/state/generation-files.ts): the highest is current.
  const dir = join(project.dir, '.zdd/web/lock');
  const current = readdirSync(dir).filter((n) => /^\d{12}\.json$/.test(n)).sort().at(-1);
  if (!current) throw new Error(`no lock generation in ${dir}`);
  return join(dir, current);
}

describe('item 1: a deploy that lost its lock stops acting', () => {
  it('frozen past its lease and taken over by `zdd rollback`: on waking it makes no provider call, does not roll back, exits 4 naming who took over', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const deploy = p.start(['deploy', '--revision', 'v2']);
    await deploy.waitFor(/paused: /);
    expect(p.fakeState().weights).toEqual({ v1: 80, v2: 20 });

    // Freeze the deploy (a VM pause, a stopped laptop) and age its lease as if it slept past it.
    deploy.child.kill('SIGSTOP');
    const lock = JSON.parse(readFileSync(lockFile(p), 'utf8'));
    lock.heartbeat = new Date(Date.now() - 3_600_000).toISOString();
    writeFileSync(lockFile(p), JSON.stringify(lock));

    const rollback = await p.run(['rollback']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    const callsAfterTakeOver = p.fakeState().calls.length;

    deploy.child.kill('SIGCONT');
    const timer = setTimeout(() => deploy.child.kill('SIGKILL'), 20_000);
    const r = await deploy.done;
    clearTimeout(timer);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/Lost the lock of service "web"/);
    expect(r.stdout).toMatch(/taken over by \S+@\S+ \(pid \d+, zdd rollback\)/);
    expect(r.stdout).not.toMatch(/ROLLBACK: |rollback step|rollback done/);
    // No provider call after the take-over, and the new holder's record stands.
    expect(p.fakeState().calls.length).toBe(callsAfterTakeOver);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    const status = await p.run(['status', '--json']);
    const report = status.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'status');
    expect(report.deployment.status).toBe('rolled-back');
  });
});

describe('item 3: a failing state store never blocks the way back to stable', () => {
  it('records cannot be written mid-bake: traffic goes back to stable first, exit 4 says where production is; the next `zdd rollback` finishes the record', async () => {
    p = makeProject({ canarySteps: "[{ weight: 20, pause: '2s' }, { weight: 100 }]" });
    const deploy = p.start(['deploy', '--revision', 'v2']);
    await deploy.waitFor(/step \d+\/\d+: bake 2s/);
    // The store breaks: where records go is no longer a directory (ENOTDIR on every write).
    const records = join(p.dir, '.zdd/web/records');
    rmSync(records, { recursive: true, force: true });
    writeFileSync(records, 'not a directory');
    const r = await deploy.done;
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/Production is back on stable v1 \(traffic read back from the router: stable v1 100% \| candidate v2 0%\), but the deployment record could not be written to \S+\.zdd: E(EXIST|NOTDIR)/);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    expect(p.fakeState().revisions.v2.running).toBe(false);

    rmSync(records, { force: true });
    mkdirSync(records);
    const again = await p.run(['rollback']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const status = await p.run(['status']);
    expect(status.stdout).toMatch(/with canary: ROLLED-BACK/);
  });
});

describe('item 4: an interrupted rollback is recoverable', () => {
  it('kill -9 of a restore-previous `zdd rollback` at every step: the next `zdd rollback` or `zdd promote` finishes it (previous revision 100%, the other retired)', async () => {
    p = makeProject({ canarySteps: '[{ weight: 100 }]' });
    const project = p;
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      const candidate = `n${k}`;
      const deployed = await project.run(['deploy', '--revision', candidate]);
      expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
      const rollback = project.start(['rollback']);
      const planned = await new Promise<number>((resolve) => {
        const t = setInterval(() => {
          const m = /rolling back web: \S+ → \S+ \((\d+) steps/.exec(rollback.stdout());
          if (m) {
            clearInterval(t);
            resolve(Number(m[1]));
          }
        }, 5);
      });
      total = planned;
      await rollback.waitFor(new RegExp(`step ${k + 1}/${total}: `));
      rollback.child.kill('SIGKILL');
      await rollback.done;

      const next = k % 2 === 0 ? 'rollback' : 'promote';
      const finish = await project.run([next]);
      const where = `killed at step ${k + 1}/${total}, then zdd ${next}`;
      expect(finish.code, `${where}: ${finish.stdout}${finish.stderr}`).toBe(0);
      expect(finish.stdout, where).not.toMatch(/Unknown strategy/);
      expect(project.fakeState().weights, where).toEqual({ v1: 100 });
      expect(project.fakeState().revisions[candidate].running, where).toBe(false);
      const status = await project.run(['status', '--json']);
      const report = status.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'status');
      expect(report.deployment.status, where).toBe('succeeded');
      expect(report.deployment.candidate.id, where).toBe('v1');
    }
    expect(total).toBe(4);
  });

  it('kill -9 of `zdd rollback` of a crashed deploy at every rollback step: the next `zdd promote` or `zdd rollback` finishes the rollback', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const project = p;
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      const candidate = `c${k}`;
      const deploy = project.start(['deploy', '--revision', candidate]);
      await deploy.waitFor(/paused: /);
      deploy.child.kill('SIGKILL');
      await deploy.done;
      const rollback = project.start(['rollback']);
      await rollback.waitFor(/ROLLBACK: /);
      const m = await new Promise<RegExpExecArray>((resolve) => {
        const t = setInterval(() => {
          const hit = /rollback step \d+\/(\d+): /.exec(rollback.stdout());
          if (hit) {
            clearInterval(t);
            resolve(hit);
          }
        }, 5);
      });
      total = Number(m[1]);
      await rollback.waitFor(new RegExp(`rollback step ${k + 1}/${total}: `));
      rollback.child.kill('SIGKILL');
      await rollback.done;

      const next = k % 2 === 0 ? 'promote' : 'rollback';
      const finish = await project.run([next]);
      const where = `rollback killed at step ${k + 1}/${total}, then zdd ${next}`;
      expect(finish.code, `${where}: ${finish.stdout}${finish.stderr}`).toBe(0);
      expect(project.fakeState().weights, where).toEqual({ v1: 100 });
      expect(project.fakeState().revisions[candidate].running, where).toBe(false);
      const status = await project.run(['status']);
      expect(status.stdout, where).toMatch(/ROLLED-BACK/);
    }
  });
});

describe('item 5: rollback semantics an operator can predict', () => {
  it('v1, v2, v3: rollback → v2 and says so in its own words; a second rollback stays on v2 and says how to go further; --to restores any recorded revision', async () => {
    p = makeProject({ canarySteps: '[{ weight: 100 }]' });
    for (const v of ['v2', 'v3']) expect((await p.run(['deploy', '--revision', v])).code).toBe(0);

    const first = await p.run(['rollback']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(p.fakeState().weights).toEqual({ v2: 100 });
    expect(first.stdout).toMatch(/rolling back web: v3 → v2 \(4 steps/);
    expect(first.stdout).toContain('step 2/4: shift traffic: v2 100% | v3 0%');
    expect(first.stdout).toContain('traffic verified: v2 100% | v3 0%');
    expect(first.stdout).toContain('Rolled back to v2: it serves 100% of production (v3 retired).');
    expect(first.stdout).not.toMatch(/stable|candidate/);
    const status = await p.run(['status']);
    expect(status.stdout).toMatch(/last run: \S+ rollback v3 → v2 \(restore the previous revision\): SUCCEEDED/);
    expect(status.stdout).toContain('traffic (recorded): restored v2 100% | rolled back v3 0%');

    const second = await p.run(['rollback']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(p.fakeState().weights).toEqual({ v2: 100 });
    expect(second.stdout).toMatch(/v2 is already the revision the last rollback restored \(from v3, [^)]+\); `zdd rollback` does not walk further back on its own\./);
    expect(second.stdout).toContain('To go further back, run `zdd rollback --to <revision>` (recorded: v3, v1).');

    const unknown = await p.run(['rollback', '--to', 'v9']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toMatch(/Revision "v9" is neither running nor recorded for web; nothing was changed\.[\s\S]*Pass one of: v3, v1\./);

    const to = await p.run(['rollback', '--to', 'v1']);
    expect(to.code, to.stdout + to.stderr).toBe(0);
    expect(to.stdout).toContain('Rolled back to v1: it serves 100% of production (v2 retired).');
    expect(p.fakeState().weights).toEqual({ v1: 100 });
    expect(p.fakeState().revisions.v2.running).toBe(false);
  });

  it('status calls a slot with no instances retired, not "?/0 instances healthy"', () => {
    const text = renderStatus({
      type: 'status',
      service: 'web',
      provider: 'aws',
      live: { revisions: [{ revision: { id: '1.4.2' }, desired: 2, healthy: 2 }, { revision: { id: '1.4.1' }, desired: 0 }], weights: { '1.4.2': 100 }, testRoute: null },
      deployment: null,
      lock: null,
      liveRevision: null,
      drift: [],
    });
    expect(text).toContain('revision 1.4.2: 2/2 instances healthy');
    expect(text).toContain('revision 1.4.1: retired (idle, no instances)');
    expect(text).not.toContain('?/0');
  });
});

describe('item 6: deploying the revision that already serves changes nothing', () => {
  it('a CI re-run of a blue-green deploy keeps the previous revision for instant rollback; the same tag deployed again is said', async () => {
    p = makeProject();
    const first = await p.run(['deploy', '--revision', 'v2', '--image', 'app:2', '--strategy', 'blue-green'], { fastClock: true });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(p.fakeState().revisions.v1.running).toBe(true); // kept for instant rollback
    const calls = p.fakeState().calls.filter((c) => c.method !== 'snapshot' && c.method !== 'getWeights' && c.method !== 'preflight').length;

    const rerun = await p.run(['deploy', '--revision', 'v2', '--image', 'app:2', '--strategy', 'blue-green']);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('Revision v2 (image app:2) already serves 100% of production; nothing was changed.');
    expect(rerun.stdout).toMatch(/The same tag was deployed again\. A tag can point at a new image: to roll that out, give it a new revision id \(`--revision <id> --image app:2`\) or deploy it by digest \(`--image app@sha256:…`\)/);
    expect(p.fakeState().revisions.v1.running).toBe(true);
    expect(p.fakeState().calls.filter((c) => c.method !== 'snapshot' && c.method !== 'getWeights' && c.method !== 'preflight').length).toBe(calls);

    // And the instant rollback it kept still is one: v1 back without starting anything.
    const rollback = await p.run(['rollback']);
    expect(rollback.code).toBe(0);
    expect(p.fakeState().weights).toEqual({ v1: 100 });
  });
});

describe('item 8: hooks never outlive zdd unsupervised and never run twice at once', () => {
  /** A hook that, the first time, records its pid and sleeps; later runs note whether the first still runs. */
  function sleeper(dir: string, name: string): string {
    const f = (x: string) => join(dir, `${name}.${x}`);
    // "Still running" reads the process state: a killed first run may linger as a zombie until reaped.
    const state = `$(awk '{print $3}' /proc/$(cat ${f('pid')})/stat 2>/dev/null)`;
    return `if [ -e ${f('once')} ]; then s=${state}; if [ -n "$s" ] && [ "$s" != Z ]; then touch ${f('overlap')}; fi; exit 0; fi; touch ${f('once')}; echo $$ > ${f('pid')}.tmp; mv ${f('pid')}.tmp ${f('pid')}; exec sleep 60`;
  }
  /** Running, not a zombie waiting for a reaper (orphans are reparented to an init that may not reap quickly). */
  const alive = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };
  async function pidOf(file: string): Promise<number> {
    for (let i = 0; i < 500; i++) {
      if (existsSync(file)) return Number(readFileSync(file, 'utf8'));
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${file} never appeared`);
  }
  function projectWithHooks(hooks: (dir: string) => Record<string, string>): Project {
    const project = makeProject({ canarySteps: '[{ weight: 100 }]' });
    const config = join(project.dir, 'deploy.config.ts');
    const text = readFileSync(config, 'utf8').replace(/ {2}hooks: \{[^}]*\},/, () => `  hooks: ${JSON.stringify(hooks(project.dir))},`);
    writeFileSync(config, text);
    return project;
  }

  for (const next of ['rollback', 'promote'] as const) {
    it(`kill -9 of zdd while a hook runs: the hook's process group is in the record, and \`zdd ${next}\` ends it before going on (never two at once)`, async () => {
      p = projectWithHooks((dir) => ({ preShift: sleeper(dir, 'pre'), onRollback: 'true' }));
      const deploy = p.start(['deploy', '--revision', 'v2']);
      const hookPid = await pidOf(join(p.dir, 'pre.pid'));
      // The record names the hook's process group right after the spawn: wait for that write, not a fixed time.
      const recordFile = join(p.dir, '.zdd/web/latest.json');
      const readRecord = () => JSON.parse(readFileSync(recordFile, 'utf8'));
      const hookInRecord = () => {
        try {
          return readRecord().hookProcess;
        } catch {
          return undefined; // not written yet
        }
      };
      await expect.poll(hookInRecord, { timeout: 10_000, interval: 20 }).toMatchObject({ hook: 'preShift', pgid: expect.any(Number) });
      const record = readRecord();
      deploy.child.kill('SIGKILL');
      await deploy.done;
      expect(alive(hookPid), 'the hook outlives the killed zdd').toBe(true);

      const r = await p.run([next]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Ended the hook preShift \\(process group ${record.hookProcess.pgid} on \\S+, started [^)]+\\), left running by the killed zdd`));
      expect(alive(hookPid)).toBe(false);
      expect(existsSync(join(p.dir, 'pre.overlap')), 'the hook ran again while the first still ran').toBe(false);
      expect(p.fakeState().weights).toEqual(next === 'rollback' ? { v1: 100 } : { v2: 100 });
    });
  }

  it('a third Ctrl-C that exits 4 ends the hook that is running (here onRollback during the rollback)', async () => {
    p = projectWithHooks((dir) => ({ preShift: sleeper(dir, 'pre'), onRollback: sleeper(dir, 'rb') }));
    const deploy = p.start(['deploy', '--revision', 'v2']);
    await pidOf(join(p.dir, 'pre.pid'));
    deploy.child.kill('SIGINT');
    const rbPid = await pidOf(join(p.dir, 'rb.pid'));
    deploy.child.kill('SIGINT');
    // zdd took the second one (two signals pending at once would count as one).
    await expect.poll(() => deploy.stderr(), { timeout: 10_000, interval: 20, message: 'zdd never said it took the second SIGINT' }).toMatch(/SIGINT received twice; zdd is still stopping safely/);
    deploy.child.kill('SIGINT');
    const r = await deploy.done;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/received three times; exiting now\. Ended 1 running hook\/check process group \(\d+\)/);
    // SIGKILL sent to the group; the hook (`sleep 60`) is gone once the kernel has reaped it.
    await expect.poll(() => alive(rbPid), { timeout: 5_000, interval: 20, message: `the onRollback hook (pid ${rbPid}) still runs after zdd exited` }).toBe(false);
  });
});

describe('item 9: honest exit codes', () => {
  it('`zdd retire` that refuses (the kept revision still has traffic) exits 4 and changes nothing', async () => {
    p = makeProject();
    expect((await p.run(['deploy', '--revision', 'v2', '--strategy', 'blue-green'], { fastClock: true })).code).toBe(0);
    const state = JSON.parse(readFileSync(join(p.dir, 'fake-state.json'), 'utf8'));
    state.weights = { v1: 10, v2: 90 }; // someone moved traffic by hand
    writeFileSync(join(p.dir, 'fake-state.json'), JSON.stringify(state));
    const r = await p.run(['retire', '--now']);
    expect(r.code, r.stdout).toBe(4);
    expect(r.stdout).toContain('Did not retire v1: the router gives it 10% of production, so stopping it would cut traffic. Nothing was changed.');
    expect(p.fakeState().revisions.v1.running).toBe(true);
  });

  it('a provider error after zdd changed something is not exit 5 ("nothing changed"): `zdd retire` whose stop call fails exits 4', async () => {
    p = makeProject({ fake: { failures: [{ method: 'retire', revision: 'v1', message: 'ECS UpdateService: ServiceNotActiveException' }] } });
    expect((await p.run(['deploy', '--revision', 'v2', '--strategy', 'blue-green'], { fastClock: true })).code).toBe(0);
    const r = await p.run(['retire', '--now']);
    expect(r.code, r.stdout).toBe(4);
    expect(r.stdout).toMatch(/ServiceNotActiveException\n\(zdd had already changed production in this command: 1 provider write\.\)/);
  });

  it('`zdd status` that cannot read the provider exits 5 and still prints the recorded state', async () => {
    p = makeProject();
    expect((await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary'], { fastClock: true })).code).toBe(0);
    writeFileSync(p.failFile, 'x'); // every provider call fails from now on
    const r = await p.run(['status']);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('live: could not read from the provider: fake snapshot failed');
    expect(r.stdout).toMatch(/last deploy: \S+ v1 → v2 with canary: SUCCEEDED/);
    expect(r.stdout).toContain('Could not read production from the provider: fake snapshot failed (fail file present). What is shown is the deployment record, not live traffic.');
  });

  it('`--lock-wait` honours Ctrl-C: the waiting command stops at once (exit 130) and takes nothing', async () => {
    p = makeProject({ canarySteps: MANUAL });
    const holder = p.start(['deploy', '--revision', 'v2']);
    await holder.waitFor(/paused: /);
    const waiting = p.start(['deploy', '--revision', 'v3', '--lock-wait', '5m']);
    await waiting.waitFor(/Waiting up to 5m for the lock held by/);
    const sent = Date.now();
    waiting.child.kill('SIGINT');
    const timer = setTimeout(() => waiting.child.kill('SIGKILL'), 15_000);
    const r = await waiting.done;
    clearTimeout(timer);
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(r.stdout).toMatch(/Interrupted by SIGINT/);
    // The holder still holds it.
    const lock = JSON.parse(readFileSync(lockFile(p), 'utf8'));
    expect(lock.holder.pid).toBe(holder.child.pid);
    holder.child.kill('SIGKILL');
    await holder.done;
  });

  it('with --json under GitHub Actions, stdout is NDJSON that ends with the done event (annotations go to stderr)', async () => {
    p = makeProject({ fake: { failures: [{ method: 'setWeights', nth: 1 }] } });
    const summary = join(p.dir, 'summary.md');
    const r = await p.run(['deploy', '--revision', 'v2', '--json'], { env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n').filter(Boolean);
    const events = lines.map((l) => JSON.parse(l)); // throws on any line that is not JSON
    expect(events.at(-1)).toMatchObject({ type: 'done', exitCode: 1 });
    expect(r.stderr).toMatch(/^::error title=zdd rolled-back::Deploy of v2 failed/m);
    expect(readFileSync(summary, 'utf8')).toContain('rolled-back');
  });
});

describe('part 1: zdd plan shows the candidate deploy would use', () => {
  it('`zdd plan --image reg/app:1.4.2` plans revision 1.4.2 with that image, as `zdd deploy --image` would', async () => {
    p = makeProject();
    const r = await p.run(['plan', '--image', 'reg/app:1.4.2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'plan');
    expect(plan.candidate).toEqual({ id: '1.4.2', image: 'reg/app:1.4.2' });
  });
});
