import { DescribeListenersCommand, DescribeTagsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runZdd, ZDD_BIN, type RunResult } from '../cli/cli-harness.js';
import { motoEnv, skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { STACK_PROVIDER } from './aws-context.js';
import { createMotoStack, createTargetBridge, motoClients, type MotoClients, type MotoStack, type TargetBridge } from './moto-stack.js';

/**
 * Issue 12: the AWS provider as a new user meets it, through the built binary on moto (one
 * emulator for the file). Each test names the item it covers.
 */
describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('AWS as a new user meets it (built binary, moto)', { timeout: 240_000 }, () => {
  const moto = useMoto();
  let c: MotoClients;
  let stack: MotoStack;
  let bridge: TargetBridge;
  let env: Record<string, string>;
  const dirs: string[] = [];

  beforeEach(async () => {
    await moto.reset();
    c = motoClients(moto);
    stack = await createMotoStack(moto, c);
    bridge = createTargetBridge(c, stack);
    await bridge.syncOnce();
    bridge.startLoop(250);
    env = { ...motoEnv(moto), ZDD_TEST_CLOCK: 'fast', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  });
  afterEach(async () => {
    await bridge.stop();
    c.destroy();
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'zdd-aws-new-user-'));
    dirs.push(dir);
    return dir;
  }
  function project(provider: Record<string, unknown> = {}, extra = ''): string {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'deploy.config.ts'),
      `import { defineConfig } from 'zdd';

export default defineConfig({
  service: 'web',
  provider: ${JSON.stringify({ ...STACK_PROVIDER, ...provider })},
  state: { type: 's3', bucket: 'zdd-state', prefix: 'zdd/' },
  replicas: 2,
  drain: '10s',
  health: { timeout: '2h' },
  strategies: { canary: { steps: [{ weight: 50, pause: '1m' }, { weight: 100 }] } },
  ${extra}
});
`,
    );
    return dir;
  }
  const zdd = (dir: string, args: string[], more: Record<string, string> = {}) => runZdd(args, dir, { ...env, ...more }, 90_000);
  const out = (r: RunResult) => `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  it('item 1: init leaves the region to the SDK; --region beats provider.region; "not found" names the region it looked in', async () => {
    const dir = tempDir();
    const init = await zdd(dir, ['init', '--provider', 'aws']);
    expect(init.code, out(init)).toBe(0);
    expect(readFileSync(join(dir, 'deploy.config.ts'), 'utf8')).not.toMatch(/^\s*region:/m);
    const pinned = await zdd(dir, ['init', '--provider', 'aws', '--region', 'eu-central-1', '--output', 'pinned.config.ts']);
    expect(pinned.code, out(pinned)).toBe(0);
    expect(readFileSync(join(dir, 'pinned.config.ts'), 'utf8')).toMatch(/^\s*region: "eu-central-1",$/m);

    // The stack lives in us-east-1 (AWS_REGION); the config pins another region.
    const wrong = project({ region: 'eu-west-1' });
    const plan = await zdd(wrong, ['plan', '--image', 'repo/web:1.4.2']);
    expect(plan.code, out(plan)).toBe(5);
    expect(plan.stdout + plan.stderr).toMatch(/not found \(region eu-west-1\)/);
    const flag = await zdd(wrong, ['plan', '--image', 'repo/web:1.4.2', '--region', 'us-east-1']);
    expect(flag.code, out(flag)).toBe(0);
    expect(flag.stdout + flag.stderr).toMatch(/Plan for web: 1\.4\.1 → /);

    // --region is the AWS provider's flag: listed under its heading, not among the global options.
    const help = await zdd(dir, ['deploy', '--help']);
    expect(help.stdout).toMatch(/AWS provider \(ECS \+ ALB\) options:\n\s+--region <region>/);
    const global = await zdd(dir, ['--help']);
    expect(global.stdout).not.toContain('--region');
  });

  async function weights(): Promise<Record<string, number>> {
    const l = (await c.elb.send(new DescribeListenersCommand({ ListenerArns: [stack.listenerArn] }))).Listeners![0];
    const res: Record<string, number> = {};
    for (const g of l.DefaultActions![0].ForwardConfig!.TargetGroups!) res[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return res;
  }
  async function tagsOf(i: 0 | 1): Promise<Record<string, string>> {
    const t = await c.elb.send(new DescribeTagsCommand({ ResourceArns: [stack.targetGroupArns[i]] }));
    return Object.fromEntries((t.TagDescriptions![0].Tags ?? []).map((x) => [x.Key!, x.Value!]));
  }

  it('item 2: a deploy without an image is refused (exit 2, nothing changed); provider.image names it; the same image again is called a redeploy', async () => {
    const dir = project();
    const r = await zdd(dir, ['deploy', '--revision', 'v5']);
    expect(r.code, out(r)).toBe(2);
    expect(r.stdout + r.stderr).toContain('On AWS, zdd deploy needs an image for revision v5: nothing was changed');
    expect(r.stdout + r.stderr).toContain('provider.image');
    expect(await weights()).toEqual({ 'web-a': 1 });
    expect((await c.s3.send(new ListObjectsV2Command({ Bucket: stack.bucket }))).KeyCount ?? 0).toBe(0);

    const templated = project({ image: 'repo/web:{{revision}}' });
    const d = await zdd(templated, ['deploy', '--revision', '1.4.2']);
    expect(d.code, out(d)).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect(await tagsOf(1)).toMatchObject({ 'zdd:revision': '1.4.2', 'zdd:image': 'repo/web:1.4.2' });

    const again = await zdd(templated, ['deploy', '--revision', '1.4.2-again', '--image', 'repo/web:1.4.2']);
    expect(again.code, out(again)).toBe(0);
    expect(again.stdout + again.stderr).toContain('Revision 1.4.2-again runs the same image as stable 1.4.2 (repo/web:1.4.2): this deploy is a redeploy of the same image');
  });
});
