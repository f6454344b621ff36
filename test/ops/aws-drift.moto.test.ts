import { DescribeListenersCommand, ModifyListenerCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runZdd, startZdd, ZDD_BIN } from '../cli/cli-harness.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { STACK_PROVIDER } from '../aws/aws-context.js';
import { useMotoStack } from '../aws/moto-stack.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };

/**
 * Listener drift on AWS (moto, built binary): someone — Terraform re-applying, a person in the
 * console — changes the listener's weights. Between deploys, the next deploy refuses (exit 2)
 * naming who differs and by how much; between two steps of a deploy, zdd warns and writes its
 * planned weights again.
 */
describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('listener drift on AWS (moto)', { timeout: 240_000 }, () => {
  const aws = useMotoStack({ tempPrefix: 'zdd-aws-drift-', once: true });
  let dir: string;

  beforeAll(() => {
    dir = aws.tempDir();
    writeFileSync(
      join(dir, 'deploy.config.ts'),
      `import { defineConfig } from 'zdd';
export default defineConfig({
  service: 'web',
  provider: ${JSON.stringify(STACK_PROVIDER)},
  state: { type: 's3', bucket: 'zdd-state', prefix: 'zdd/' },
  replicas: 2,
  drain: '10s',
  health: { timeout: '2h' },
  strategies: { canary: { steps: [{ weight: 10, pause: 'manual' }, { weight: 50, pause: '1m' }, { weight: 100 }] } },
});
`,
    );
  });

  const zdd = (args: string[]) => runZdd(['--config', join(dir, 'deploy.config.ts'), ...args, '--json'], dir, aws.env, 90_000, FAST);
  const events = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  /** What Terraform or a console click does: the listener's forward weights set by hand. */
  const setListener = (a: number, b: number) =>
    aws.c.elb.send(
      new ModifyListenerCommand({
        ListenerArn: aws.stack.listenerArn,
        DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: aws.stack.targetGroupArns[0], Weight: a }, { TargetGroupArn: aws.stack.targetGroupArns[1], Weight: b }] } }],
      }),
    );

  it('between two steps: zdd warns that the listener changed behind it and sets its planned weights again', async () => {
    const run = startZdd(['--config', join(dir, 'deploy.config.ts'), 'deploy', '--image', 'repo/web:1.4.2', '--json'], dir, aws.env, FAST);
    await run.waitFor(/"type":"paused"/, 90_000);
    await setListener(40, 60); // planned: 1.4.1 90%, 1.4.2 10%
    const promote = await zdd(['promote']);
    expect(promote.code, promote.stdout + promote.stderr).toBe(0);
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const warn = events(r.stdout).find((e) => e.type === 'warn' && e.message.startsWith("The router changed between two of zdd's steps"));
    expect(warn?.message).toContain('1.4.1 40% (zdd set 90%), 1.4.2 60% (zdd set 10%)');
    expect(events(r.stdout).filter((e) => e.type === 'traffic').map((e) => e.byRevision['1.4.2'])).toEqual([10, 50, 100]);
  });

  it('between deploys: the next deploy refuses (exit 2) naming who differs and by how much, and changes nothing', async () => {
    await setListener(30, 70);
    const r = await zdd(['deploy', '--image', 'repo/web:1.4.3']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const done = events(r.stdout).at(-1);
    expect(done.message).toContain('1.4.1 has 30% (zdd wrote 0%, +30 points), 1.4.2 has 70% (zdd wrote 100%, -30 points)');
    const l = (await aws.c.elb.send(new DescribeListenersCommand({ ListenerArns: [aws.stack.listenerArn] }))).Listeners![0];
    expect(l.DefaultActions![0].ForwardConfig!.TargetGroups!.map((g) => g.Weight)).toEqual([30, 70]);
    const status = await zdd(['status']);
    expect(events(status.stdout).find((e) => e.type === 'status').drift).toEqual([expect.stringContaining('Traffic differs from what zdd last wrote')]);
  });
});
