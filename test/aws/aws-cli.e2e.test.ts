import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { DescribeListenersCommand, DescribeRulesCommand, DescribeTagsCommand, ModifyLoadBalancerAttributesCommand, ModifyTargetGroupAttributesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runZdd, startZdd, ZDD_BIN } from '../cli/cli-harness.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { useMotoStack } from './moto-stack.js';
import { STACK_PROVIDER } from './aws-context.js';

// The built binary against moto, as CI and a laptop run it: `npm run build` first (npm test does).
const CONFIG = (extra = '') => `import { defineConfig } from 'zdd';

export default defineConfig({
  service: 'web',
  provider: ${JSON.stringify(STACK_PROVIDER)},
  state: { type: 's3', bucket: 'zdd-state', prefix: 'zdd/' },
  replicas: 2,
  drain: '10s',
  // The fast test clock turns polls into a tight loop: a long timeout leaves the emulated ECS
  // integration (the target bridge) real time to register targets.
  health: { timeout: '2h' },
  strategies: {
    canary: {
      steps: [
        { weight: 10, pause: '1m' },
        { weight: 25, pause: '1m' },
        { weight: 50, pause: '1m' },
        { weight: 75, pause: '1m' },
        { weight: 100 },
      ],
    },
    'blue-green': { keepPrevious: '10m' },
    rolling: { batchSize: 1, maxSurge: 1, maxUnavailable: 0 },
  },
  ${extra}
});
`;

describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('zdd binary on AWS (moto)', { timeout: 240_000 }, () => {
  const aws = useMotoStack({ tempPrefix: 'zdd-aws-e2e-' });

  function project(extra = ''): string {
    const dir = aws.tempDir();
    writeFileSync(join(dir, 'deploy.config.ts'), CONFIG(extra));
    return dir;
  }
  const zdd = (dir: string, args: string[], timeoutMs = 90_000) => runZdd(['--config', join(dir, 'deploy.config.ts'), ...args], dir, aws.env, timeoutMs, { fastClock: true });
  function events(stdout: string): { type: string; [k: string]: any }[] {
    return stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }
  async function weights(): Promise<Record<string, number>> {
    const l = (await aws.c.elb.send(new DescribeListenersCommand({ ListenerArns: [aws.stack.listenerArn] }))).Listeners![0];
    const out: Record<string, number> = {};
    for (const g of l.DefaultActions![0].ForwardConfig!.TargetGroups!) out[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return out;
  }
  async function desired(): Promise<Record<string, number>> {
    const res = await aws.c.ecs.send(new DescribeServicesCommand({ cluster: 'prod', services: ['web-a', 'web-b'] }));
    return Object.fromEntries(res.services!.map((s) => [s.serviceName!, s.desiredCount!]));
  }
  async function rulePriorities(): Promise<string[]> {
    return (await aws.c.elb.send(new DescribeRulesCommand({ ListenerArn: aws.stack.listenerArn }))).Rules!.map((r) => r.Priority!).sort();
  }
  const failed = (r: { stdout: string; stderr: string }) => `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  it('canary --image: five verified weight steps, header rule created and removed, old slot stopped', async () => {
    const dir = project(`gates: { smoke: { checks: [{ type: 'command', run: 'test -n "$ZDD_TEST_HEADERS"' }] } },`);
    const r = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary', '--json']);
    expect(r.code, failed(r)).toBe(0);
    const ev = events(r.stdout);
    const traffic = ev.filter((e) => e.type === 'traffic');
    expect(traffic.map((e) => e.byRevision)).toEqual([10, 25, 50, 75, 100].map((w) => ({ '1.4.1': 100 - w, '1.4.2': w })));
    expect(traffic.every((e) => e.verified === true)).toBe(true);
    const steps = ev.filter((e) => e.type === 'step.start').map((e) => e.step.kind);
    expect(steps).toContain('testRoute');
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect(await desired()).toEqual({ 'web-a': 0, 'web-b': 2 });
    expect(await rulePriorities()).toEqual(['default']);
    expect(existsSync(join(dir, '.zdd'))).toBe(false); // state lives in S3, not on the runner
  });

  it('drains that match the platform: drain 5s against a 60s deregistration delay is a plan note and a validate --provider-checks finding; the fixed config is clean; a refusal stops deploy before any change', async () => {
    const setDelay = async (seconds: number) => {
      for (const arn of aws.stack.targetGroupArns) {
        await aws.c.elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(seconds) }] }));
      }
    };
    await setDelay(60);
    // The stack's task definition sets no stopTimeout (ECS waits 30s): a 30s idle timeout keeps that rule out of this test.
    await aws.c.elb.send(new ModifyLoadBalancerAttributesCommand({ LoadBalancerArn: aws.stack.loadBalancerArn, Attributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '30' }] }));
    const dir = aws.tempDir();
    const write = (drain: string) => writeFileSync(join(dir, 'deploy.config.ts'), CONFIG().replace("drain: '10s'", `drain: '${drain}'`));
    write('5s');
    const finding = /drain 5s is shorter than the deregistration delay of target groups web-a, web-b \(1m\).* Fix: set drain: "1m" in the config/;

    // Read-only commands run side by side: the file's time is the suite's.
    const [plan, offline, checked] = await Promise.all([zdd(dir, ['plan', '--image', 'repo/web:1.4.2', '--strategy', 'canary']), zdd(dir, ['validate']), zdd(dir, ['validate', '--provider-checks'])]);
    expect(plan.code, failed(plan)).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`note: drain warning: ${finding.source}`));
    expect(offline.code, failed(offline)).toBe(0);
    expect(offline.stdout + offline.stderr).not.toMatch(/deregistration/);
    expect(checked.code, failed(checked)).toBe(0);
    expect(checked.stdout).toMatch(new RegExp(`warn: ${finding.source}`));
    expect(checked.stdout + checked.stderr).toMatch(/1 drain finding\(s\), 0 refusal\(s\)/);

    write('60s');
    const fixed = await zdd(dir, ['validate', '--provider-checks']);
    expect(fixed.code, failed(fixed)).toBe(0);
    expect(fixed.stdout + fixed.stderr).toMatch(/the drains match the platform/);

    // 20s delay + 5s drain < 30s a request may run: requests are cut, so validate exits 5 and deploy refuses before any change.
    write('5s');
    await setDelay(20);
    const [refused, deploy] = await Promise.all([zdd(dir, ['validate', '--provider-checks']), zdd(dir, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary'])]);
    expect(refused.code, failed(refused)).toBe(5);
    expect(refused.stdout).toMatch(/refuse: A request may run 30s .* = 25s: longer requests are cut.* Fix: set deregistration_delay.timeout_seconds to 25 on target groups web-a, web-b/);
    expect(deploy.code, failed(deploy)).toBe(5);
    expect(deploy.stdout + deploy.stderr).toMatch(/drain settings would cut requests/);
    expect(await weights()).toEqual({ 'web-a': 1 });
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
  });

  it('status and rollback from a fresh directory with no local state', async () => {
    const ci = project();
    const d = await zdd(ci, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary']);
    expect(d.code, failed(d)).toBe(0);

    const laptop = project();
    const s = await zdd(laptop, ['status', '--json']);
    expect(s.code, failed(s)).toBe(0);
    const report = events(s.stdout).find((e) => e.type === 'status')!;
    expect(report.live.weights).toEqual({ '1.4.1': 0, '1.4.2': 100 });
    expect(report.deployment.candidate.id).toBe('1.4.2');
    expect(report.deployment.status).toBe('succeeded');

    const rb = await zdd(laptop, ['rollback', '--yes']);
    expect(rb.code, failed(rb)).toBe(0);
    expect(rb.stdout + rb.stderr).toMatch(/Rolled back to 1.4.1/);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
    const tags = await aws.c.elb.send(new DescribeTagsCommand({ ResourceArns: [aws.stack.targetGroupArns[0]] }));
    expect(tags.TagDescriptions![0].Tags).toContainEqual({ Key: 'zdd:role', Value: 'stable' });
  });

  it('blue-green keeps the old slot for the keep time; `zdd retire --now` stops it', async () => {
    const dir = project();
    const r = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'blue-green', '--json']);
    expect(r.code, failed(r)).toBe(0);
    expect(events(r.stdout).filter((e) => e.type === 'traffic').map((e) => e.byRevision)).toEqual([{ '1.4.1': 0, '1.4.2': 100 }]);
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    // Kept running: rollback stays one listener call.
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 2 });
    const early = await zdd(dir, ['retire']);
    expect(early.code, failed(early)).toBe(0);
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 2 });
    const now = await zdd(dir, ['retire', '--now']);
    expect(now.code, failed(now)).toBe(0);
    expect(await desired()).toEqual({ 'web-a': 0, 'web-b': 2 });
  });

  it('rolling: candidate grows and stable shrinks in batches, weights following capacity', async () => {
    const dir = project();
    const r = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'rolling', '--json']);
    expect(r.code, failed(r)).toBe(0);
    const traffic = events(r.stdout).filter((e) => e.type === 'traffic').map((e) => e.byRevision['1.4.2']);
    expect(traffic.length).toBeGreaterThanOrEqual(2);
    expect(traffic.at(-1)).toBe(100);
    expect([...traffic].sort((a, b) => a - b)).toEqual(traffic);
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect(await desired()).toEqual({ 'web-a': 0, 'web-b': 2 });
  });

  it('a failing smoke gate rolls back (exit 1): stable keeps 100%, the header rule and the candidate are gone', async () => {
    const dir = project(`gates: { smoke: { checks: [{ type: 'command', run: 'exit 3' }] } },`);
    const r = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary']);
    expect(r.code, failed(r)).toBe(1);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
    expect(await rulePriorities()).toEqual(['default']);
  });

  it('two concurrent deploys: the second gets exit 3 and names the holder', async () => {
    const dir = project();
    // A manual pause parks the first deploy at 10% while it holds the S3 lock.
    writeFileSync(join(dir, 'deploy.config.ts'), CONFIG().replace("{ weight: 10, pause: '1m' }", '{ weight: 10, pause: {} }'));
    const holder = startZdd(['--config', join(dir, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary', '--json'], dir, aws.env, { fastClock: true });
    await holder.waitFor(/"type":"paused"/, 60_000);
    expect(await weights()).toEqual({ 'web-a': 90, 'web-b': 10 });
    const second = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.3', '--strategy', 'canary']);
    expect(second.code, failed(second)).toBe(3);
    expect(second.stdout + second.stderr).toMatch(/locked by .*pid \d+/);
    const abort = await zdd(dir, ['abort']);
    expect(abort.code, failed(abort)).toBe(0);
    const done = await holder.done;
    expect(done.code, failed(done)).toBe(130); // interrupted by `zdd abort`, rolled back safely
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
  });

  it('a deploy killed mid-canary: status from a fresh directory tells the truth, rollback restores stable', async () => {
    const dir = project(`gates: { smoke: { checks: [{ type: 'command', run: 'true' }] } },`);
    writeFileSync(join(dir, 'deploy.config.ts'), CONFIG(`gates: { smoke: { checks: [{ type: 'command', run: 'true' }] } },`).replace("{ weight: 25, pause: '1m' }", '{ weight: 25, pause: {} }'));
    const ci = startZdd(['--config', join(dir, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--strategy', 'canary', '--json'], dir, aws.env, { fastClock: true });
    await ci.waitFor(/"type":"paused"/, 60_000);
    ci.child.kill('SIGKILL');
    await ci.done;
    expect(await weights()).toEqual({ 'web-a': 75, 'web-b': 25 });

    const laptop = project();
    const s = await zdd(laptop, ['status', '--json']);
    const report = events(s.stdout).find((e) => e.type === 'status')!;
    expect(report.live.weights).toEqual({ '1.4.1': 75, '1.4.2': 25 });
    expect(report.deployment.status).toBe('paused');
    expect(report.lock.holder.pid).toBe(ci.child.pid);

    const rb = await zdd(laptop, ['rollback', '--yes']);
    expect(rb.code, failed(rb)).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    expect(await desired()).toEqual({ 'web-a': 2, 'web-b': 0 });
    expect(await rulePriorities()).toEqual(['default']);
    const after = events((await zdd(laptop, ['status', '--json'])).stdout).find((e) => e.type === 'status')!;
    expect(after.deployment.status).toBe('rolled-back');
    expect(after.lock).toBeNull();
  });

  it('a missing cluster is a provider error before any change (exit 5), naming the region and account it looked in', async () => {
    const dir = project();
    writeFileSync(join(dir, 'deploy.config.ts'), CONFIG().replace('"cluster":"prod"', '"cluster":"staging"'));
    const r = await zdd(dir, ['deploy', '--image', 'repo/web:1.4.2']);
    expect(r.code, failed(r)).toBe(5);
    expect(r.stdout + r.stderr).toContain('ECS cluster "staging" not found (region us-east-1, account 123456789012)');
    expect(await weights()).toEqual({ 'web-a': 1 });
  });
});
