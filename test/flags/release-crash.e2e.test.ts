import { watch, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZdd } from '../cli/cli-harness.js';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject, type ZddRun } from '../local/e2e-project.js';

/** zdd held right after its Nth write of the flag file lands, so that a kill "the instant the write lands" is one whatever the machine's load. */
const HOLD = join(import.meta.dirname, 'hold-after-write.mjs');

/**
 * Promise 3 for `zdd release` (the real Unleash server: release-crash-unleash.e2e.test.ts): kill -9 of a flag ramp at every step (a bake half-way, a flag write
 * the instant it lands) on the local provider under load, with the flagd file provider. After each
 * kill the flag holds the share of the step set or of the one before; `zdd status` tells the
 * release, its step and the flag as it is live; a second `zdd release` is refused; `zdd rollback`
 * puts the flag file back byte for byte as it was, or `zdd promote` finishes the ramp.
 */

const FLAG = 'new-checkout';
const SHARES = [10, 50, 100];
const PAUSE_MS = 2000;

/** The flag before every release: off, with a 5% rollout of another wave kept (as a kill switch leaves it), beside a flag zdd never touches. */
const ORIGINAL = `${JSON.stringify(
  {
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    flags: {
      [FLAG]: {
        state: 'DISABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        targeting: { fractional: [{ cat: ['wave-0', { var: 'targetingKey' }] }, ['on', 5], ['off', 95]] },
        metadata: { owner: 'checkout-team' },
      },
      'other-flag': { state: 'ENABLED', variants: { yes: true, no: false }, defaultVariant: 'yes' },
    },
  },
  null,
  2,
)}\n`;

interface Share {
  enabled: boolean;
  rollout: number | null;
  groupId: string | null;
}

const BEFORE: Share = { enabled: false, rollout: 5, groupId: 'wave-0' };
const on = (rollout: number): Share => ({ enabled: true, rollout, groupId: FLAG });

/** The flag as the file says, read by the test itself. */
function readShare(path: string): Share {
  const def = JSON.parse(readFileSync(path, 'utf8')).flags[FLAG];
  const frac = def.targeting?.fractional;
  return { enabled: def.state === 'ENABLED', rollout: frac ? frac[1][1] : null, groupId: frac ? frac[0].cat[0] : null };
}

/** Kill -9 `run` the instant a file in `dir` changes so that `landed()` holds (a flag write, before zdd reads it back). */
function killWhen(run: ZddRun, dir: string, landed: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const w = watch(dir, () => {
      let yes = false;
      try {
        yes = landed();
      } catch {
        return; // renames are atomic; a read between two events is simply skipped
      }
      if (!yes) return;
      run.child.kill('SIGKILL');
      w.close();
      resolve();
    });
    void run.done.then(() => {
      w.close();
      resolve();
    });
  });
}

describe('zdd release killed at every step (flagd file, local provider, under load)', { timeout: 240_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;
  let flagsPath: string;

  const share = () => readShare(flagsPath);

  /** `zdd release …` started so that it stops dead right after its `nth` flag write (until killed). */
  const startHeld = (args: string[], nth: number): ZddRun => p.start(args, { ZDD_TEST_HOLD_PATH: flagsPath, ZDD_TEST_HOLD_AT: String(nth) }, { preload: [HOLD] });

  beforeAll(async () => {
    p = await localProject({ replicas: 1, extra: "flags: { provider: 'openfeature-file', path: 'flags.json' }," });
    flagsPath = join(p.dir, 'flags.json');
    writeFileSync(flagsPath, ORIGINAL);
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 100, maxDurationMs: 220_000, maxRequests: 100_000 });
  });
  afterAll(async () => {
    await load?.stop();
    await p?.cleanup();
  });

  it('kill switch pulled after a release was killed in its first write: rollback puts the rollout back but keeps the flag off', async () => {
    // Before the release the flag was on for 5% (wave 0).
    const onBefore = ORIGINAL.replace('"state": "DISABLED"', '"state": "ENABLED"');
    writeFileSync(flagsPath, onBefore);
    const run = startHeld(['release', FLAG, '--steps', '10,100', '--pause', `${PAUSE_MS}ms`], 1);
    await killWhen(run, p.dir, () => share().rollout === 10);
    expect((await run.done).signal).toBe('SIGKILL');
    expect(share()).toEqual(on(10));
    // The incident: someone pulls the kill switch before anyone rolls the release back.
    const kill = await p.run(['flag', 'kill', FLAG]);
    expect(kill.code, explain(kill)).toBe(0);
    expect(share()).toEqual({ enabled: false, rollout: 10, groupId: FLAG });
    const back = await p.run(['rollback']);
    expect(back.code, explain(back)).toBe(0);
    expect(back.events.some((e) => e.type === 'warn' && /turned off during the release \(kill switch\): it stays off/.test(e.message)), explain(back)).toBe(true);
    expect(readFileSync(flagsPath, 'utf8'), 'the rollout as before, the flag still off').toBe(ORIGINAL);
  });

  it('kill switch pulled after a release was killed in its first write: promote does not turn the flag back on', async () => {
    writeFileSync(flagsPath, ORIGINAL);
    const run = startHeld(['release', FLAG, '--steps', '10,100', '--pause', `${PAUSE_MS}ms`], 1);
    await killWhen(run, p.dir, () => share().rollout === 10);
    expect((await run.done).signal).toBe('SIGKILL');
    const kill = await p.run(['flag', 'kill', FLAG]);
    expect(kill.code, explain(kill)).toBe(0);
    let turnedOn = false;
    const w = watch(p.dir, () => {
      try {
        turnedOn ||= share().enabled;
      } catch {
        // between two renames
      }
    });
    const promote = p.start(['promote'], {}, { fastClock: true });
    const promoted = await promote.done;
    w.close();
    expect(turnedOn, `promote turned the killed flag back on: ${explain(promoted)}`).toBe(false);
    // The run stops and rolls back: the rollout as before, the flag off.
    expect([1, 130], explain(promoted)).toContain(promoted.code);
    expect(readFileSync(flagsPath, 'utf8')).toBe(ORIGINAL);
    console.log(`kill switch after a killed release, then promote: exit ${promoted.code}: ${promoted.events.find((e) => e.type === 'done')?.message}`);
  });

  /** Kill -9 the release inside step `k`: half-way through a bake, or the instant its flag write lands in the file. */
  async function killInside(release: ZddRun, k: number): Promise<{ kind: string; total: number }> {
    const start = await release.waitForEvent((e) => e.type === 'deploy.start');
    const step = start.steps[k];
    if (step.kind === 'flag') {
      const target = on(step.percent);
      await killWhen(release, p.dir, () => {
        const now = share();
        return now.enabled === target.enabled && now.rollout === target.rollout;
      });
    } else {
      // Half-way: the bake's second tick (the engine reports its progress each second of the 2 s bake).
      await release.waitForEvent((e) => e.type === 'bake.progress' && e.index === k && e.elapsedMs > 0);
      release.child.kill('SIGKILL');
    }
    const ended = await release.done;
    expect(ended.signal, `step ${k + 1}: ${explain(ended)}`).toBe('SIGKILL');
    return { kind: step.kind, total: start.steps.length };
  }

  it('each kill leaves a defined flag, status tells it, a second release is refused, rollback restores the file exactly or promote finishes', async () => {
    const release = ['release', FLAG, '--steps', SHARES.join(','), '--pause', `${PAUSE_MS}ms`];
    const lines: string[] = [];
    let total = Infinity;
    for (let k = 0; k < total; k++) {
      writeFileSync(flagsPath, ORIGINAL);
      const t0 = performance.now();
      // Steps alternate flag write, bake: a kill at flag step k finds zdd held right after that step's
      // write (write number k/2 + 1); a bake (k odd) is killed before its next write (number (k+1)/2 + 1), held there if the kill were late.
      const run = startHeld(release, Math.ceil(k / 2) + 1);
      const killed = await killInside(run, k);
      total = killed.total;
      const where = `killed in step ${k + 1}/${total} (${killed.kind})`;

      // The flag holds the share of this step or of the one before, nothing else.
      const i = Math.floor(k / 2);
      const previous = i === 0 ? BEFORE : on(SHARES[i - 1]!);
      const allowed = killed.kind === 'flag' ? [previous, on(SHARES[i]!)] : [on(SHARES[i]!)];
      const left = share();
      expect(allowed, where).toContainEqual(left);

      // Status tells the release, the step and the flag as it is live.
      const status = await p.run(['status']);
      expect(status.code, explain(status)).toBe(0);
      const report = status.events.find((e) => e.type === 'status');
      expect(report.deployment.strategy, where).toBe('flag-release');
      expect(report.deployment.status, where).toBe('running');
      expect(report.deployProcess, `${where}: status says nobody runs it any more`).toMatchObject({ alive: false });
      const at = report.deployment.inFlight?.index ?? report.deployment.stepIndex;
      expect(at, `${where}: status step`).toBe(k);
      const live = report.flags?.find((f: any) => f.flag === FLAG)?.live;
      expect({ enabled: live?.enabled, rollout: live?.rollout, groupId: live?.groupId }, `${where}: status shows the live flag`).toEqual(left);
      expect(report.live.weights.v1, where).toBe(100);
      const recorded = report.deployment.flags?.[FLAG]?.last;
      const recordSays = recorded ? `on ${recorded.rollout}%` : 'not written yet';
      if (k === 2) {
        // The record is a write behind here: the text says both, the live state last.
        const text = await runZdd(['status'], p.dir);
        expect(text.stdout, where).toContain(`flag "${FLAG}" (flag file ${flagsPath}): before off (rollout 5% kept); last read back ${recorded ? `on, ${recorded.rollout}%` : '(not written yet)'}; live now on, ${left.rollout}%`);
      }

      // A second release does not ramp on top of it.
      const again = await p.run(release);
      // Exit 3 (the dead holder's lock, named) or 4 (the unfinished release, named): either way nothing ramps.
      expect([3, 4], `${where}: ${explain(again)}`).toContain(again.code);
      const refused = again.events.find((e) => e.type === 'done');
      expect(refused.message, where).toMatch(again.code === 3 ? new RegExp(`locked by .*pid ${run.child.pid}.*no longer running`) : new RegExp(`${report.deployment.id}.*did not finish`));
      expect(refused.hint, `${where}: the refusal says how to finish the killed run`).toMatch(/zdd rollback/);
      expect(share(), `${where}: the refused release changed nothing`).toEqual(left);

      let finish: string;
      if (k === 1 || k === 2) {
        // Promote finishes the ramp from its checkpoint, from a bake and from a flag write the record
        // had not caught up with (the remaining bakes on the fast clock).
        const promote = p.start(['promote'], {}, { fastClock: true });
        const promoted = await promote.done;
        expect(promoted.code, `${where}: ${explain(promoted)}`).toBe(0);
        expect(share(), `${where}: promote ramps to the end`).toEqual(on(100));
        expect(promoted.events.find((e) => e.type === 'done')?.message, where).toBe(`Released flag "${FLAG}": on, 100% (read back).`);
        finish = `promote → on 100% (exit ${promoted.code})`;
      } else finish = '';
      const back = await p.run(['rollback']);
      expect(back.code, `${where}: ${explain(back)}`).toBe(0);
      expect(readFileSync(flagsPath, 'utf8'), `${where}: rollback puts the file back exactly`).toBe(ORIGINAL);
      expect(back.events.find((e) => e.type === 'done')?.message, where).toBe(`Rolled back release ${report.deployment.id}: flag "${FLAG}" off (rollout 5% kept) (as before the release, read back).`);
      const after = (await p.run(['status'])).events.find((e) => e.type === 'status');
      expect(after.deployment.status, where).toBe('rolled-back');
      lines.push(`${where}: left ${left.enabled ? `on ${left.rollout}%` : `off (${left.rollout}% kept)`} (record's last read-back: ${recordSays}), status step ${at + 1}, release again exit ${again.code}, ${finish ? `${finish}, then ` : ''}rollback exit ${back.code} → file as before; ${Math.round(performance.now() - t0)} ms`);
    }
    expect(total).toBe(5);
    const r = await load!.stop();
    load = undefined;
    lines.push(`load: ${r.requests} requests, ${failedRequests(r)} failed`);
    console.log(lines.join('\n'));
    expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
    expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
  });
});

describe('zdd deploy --strategy hybrid killed at its first flag step (flagd file, local provider, under load)', { timeout: 180_000 }, () => {
  let p: LocalProject;
  let flagsPath: string;

  /** The command started so that it stops dead right after its `nth` flag write (until killed). */
  const startHeld = (args: string[], nth: number): ZddRun => p.start(args, { ZDD_TEST_HOLD_PATH: flagsPath, ZDD_TEST_HOLD_AT: String(nth) }, { preload: [HOLD] });

  beforeAll(async () => {
    p = await localProject({ replicas: 1, extra: "flags: { provider: 'openfeature-file', path: 'flags.json' }," });
    flagsPath = join(p.dir, 'flags.json');
    writeFileSync(flagsPath, ORIGINAL);
    const config = join(p.dir, 'deploy.config.ts');
    const hybrid = `hybrid: { deploy: 'rolling', rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 }, flags: [{ flag: '${FLAG}', steps: [10, 50, 100], pause: '2s' }] },`;
    writeFileSync(config, readFileSync(config, 'utf8').replace('strategies: {', `strategies: {\n    ${hybrid}`));
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it('the code stays on the candidate with no failed request, the flag is defined, rollback puts the flag back first and then traffic on stable', async () => {
    const load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 100, maxDurationMs: 120_000, maxRequests: 30_000 });
    try {
      const t0 = performance.now();
      const deploy = startHeld(['deploy', '--revision', 'v2', '--strategy', 'hybrid'], 1);
      const start = await deploy.waitForEvent((e) => e.type === 'deploy.start');
      const firstFlag = start.steps.findIndex((s: any) => s.kind === 'flag');
      expect(firstFlag, 'the code steps come first').toBeGreaterThan(0);
      await killWhen(deploy, p.dir, () => readShare(flagsPath).enabled);
      const killed = await deploy.done;
      expect(killed.signal, explain(killed)).toBe('SIGKILL');
      const killedMs = Math.round(performance.now() - t0);

      // The code deploy was done: the candidate holds all traffic; the flag has its first share or none yet.
      const serving = () => Object.fromEntries(Object.entries(p.routerState()!.weights).filter(([, w]) => w > 0));
      expect(serving()).toEqual({ v2: 100 });
      const left = readShare(flagsPath);
      expect([BEFORE, on(10)]).toContainEqual(left);
      const gone = load.window();
      await gone.until((r) => (r.byRevision.v2 ?? 0) > 20, 'the candidate v2 serving 20 requests with zdd gone', 10_000);
      expect(gone.close().connectionErrors).toBe(0);

      const status = await p.run(['status']);
      const report = status.events.find((e) => e.type === 'status');
      expect(report.deployment).toMatchObject({ strategy: 'hybrid', status: 'running' });
      expect(report.deployment.inFlight?.index ?? report.deployment.stepIndex).toBe(firstFlag);
      expect(report.live.weights.v2).toBe(100);
      expect(report.flags?.[0]?.live).toMatchObject({ enabled: left.enabled, rollout: left.rollout });

      // Rollback: the flag first (checked the moment traffic starts to move), then traffic on stable.
      const rollback = p.start(['rollback']);
      let flagWhenTrafficMoved: string | undefined;
      let weightsWhenFlagRestored: Record<string, number> | undefined;
      rollback.onEvent((e) => {
        if (e.type === 'step.start' && e.phase === 'rollback' && e.step.kind === 'shiftTraffic' && flagWhenTrafficMoved === undefined) flagWhenTrafficMoved = readFileSync(flagsPath, 'utf8');
        if (e.type === 'step.done' && e.phase === 'rollback' && e.step.kind === 'flag') weightsWhenFlagRestored = { ...p.routerState()!.weights };
      });
      const back = await rollback.done;
      expect(back.code, explain(back)).toBe(0);
      const order = back.events.filter((e) => e.type === 'step.start' && e.phase === 'rollback').map((e) => e.step.kind);
      expect(order[0], `rollback steps: ${order.join(', ')}`).toBe('flag');
      expect(order.indexOf('shiftTraffic')).toBeGreaterThan(0);
      expect(weightsWhenFlagRestored?.v2, 'traffic had not moved when the flag was back').toBe(100);
      expect(flagWhenTrafficMoved, 'the flag was back before traffic moved').toBe(ORIGINAL);
      expect(readFileSync(flagsPath, 'utf8')).toBe(ORIGINAL);
      expect(serving()).toEqual({ v1: 100 });
      expect(back.events.find((e) => e.type === 'done')?.message).toBe(`Rolled back: production on stable v1. Flags as before the deploy (read back): flag "${FLAG}" off (rollout 5% kept).`);
      const r = await load.stop();
      expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
      expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
      console.log(
        `hybrid killed at step ${firstFlag + 1}/${start.steps.length} (first flag write) after ${killedMs} ms: v2 100%, flag ${left.enabled ? `on ${left.rollout}%` : 'as before'}; ` +
          `rollback exit ${back.code}: ${order.join(' → ')}; load ${r.requests} requests, ${failedRequests(r)} failed`,
      );
    } finally {
      await load.stop();
    }
  });

  it('killed half-way through its first flag bake, then promoted: the ramp and the code deploy finish, the previous revision retired at the end', async () => {
    writeFileSync(flagsPath, ORIGINAL);
    const load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 100, maxDurationMs: 120_000, maxRequests: 30_000 });
    try {
      const deploy = p.start(['deploy', '--revision', 'v3', '--strategy', 'hybrid']);
      const bake = await deploy.waitForEvent((e) => e.type === 'step.start' && e.phase === 'deploy' && e.step.kind === 'pause' && e.index > 0 && readShare(flagsPath).enabled);
      // Half-way through the 2 s bake: its second tick.
      await deploy.waitForEvent((e) => e.type === 'bake.progress' && e.index === bake.index && e.elapsedMs > 0);
      deploy.child.kill('SIGKILL');
      expect((await deploy.done).signal).toBe('SIGKILL');
      expect(readShare(flagsPath)).toEqual(on(10));
      // The code deploy is done but not closed: retiring the previous stable waits for the last flag bake (promise 7).
      const start = (await deploy.done).events.find((e) => e.type === 'deploy.start');
      const retireAt = start.steps.findIndex((s: any) => s.kind === 'retire' && s.role === 'stable');
      expect(retireAt).toBeGreaterThan(start.steps.findLastIndex((s: any) => s.kind === 'flag'));
      expect(bake.index).toBeLessThan(retireAt);

      const promote = p.start(['promote'], {}, { fastClock: true });
      const promoted = await promote.done;
      expect(promoted.code, explain(promoted)).toBe(0);
      expect(readShare(flagsPath)).toEqual(on(100));
      const serving = Object.fromEntries(Object.entries(p.routerState()!.weights).filter(([, w]) => w > 0));
      expect(serving).toEqual({ v3: 100 });
      expect(p.routerState()!.instances.filter((i) => i.revision === 'v1')).toEqual([]);
      const r = await load.stop();
      expect(r.connectionErrors, JSON.stringify(r.connectionErrorKinds)).toBe(0);
      expect(failedRequests(r), JSON.stringify(r.byStatus)).toBe(0);
      console.log(`hybrid killed in its first flag bake (step ${bake.index + 1}/${bake.total}), promote exit ${promoted.code}: flag on 100%, v3 100%, v1 retired; load ${r.requests} requests, ${failedRequests(r)} failed`);
    } finally {
      await load.stop();
    }
  });
});
