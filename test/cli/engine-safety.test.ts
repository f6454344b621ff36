import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/commands/status-command.js';
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
  return join(project.dir, '.zdd/web/lock.json');
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
    });
    expect(text).toContain('revision 1.4.2: 2/2 instances healthy');
    expect(text).toContain('revision 1.4.1: retired (idle, no instances)');
    expect(text).not.toContain('?/0');
  });
});

describe('item 6: deploying the revision that already serves changes nothing', () => {
  it('a CI re-run of a blue-green deploy keeps the previous revision for instant rollback; the same tag deployed again is said', async () => {
    p = makeProject();
    const first = await p.run(['deploy', '--revision', 'v2', '--image', 'app:2', '--strategy', 'blue-green'], { env: { ZDD_TEST_CLOCK: 'fast' } });
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
