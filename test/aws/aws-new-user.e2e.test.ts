import { CreateServiceCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { CreateRuleCommand, CreateTargetGroupCommand, DescribeListenersCommand, DescribeLoadBalancersCommand, DescribeRulesCommand, DescribeTagsCommand, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runZdd, startZdd, ZDD_BIN, type RunResult } from '../cli/cli-harness.js';
import { skipWithoutMoto } from '../helpers/moto.js';
import { STACK_PROVIDER } from './aws-context.js';
import { useMotoStack } from './moto-stack.js';

/** Bakes, polls and drains pass in no real time (test/cli/fast-clock.mjs preloaded). */
const FAST = { fastClock: true };

/**
 * Issue 12: the AWS provider as a new user meets it, through the built binary on moto (one
 * emulator for the file). Each test names the item it covers.
 */
describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('AWS as a new user meets it (built binary, moto)', { timeout: 240_000 }, () => {
  const aws = useMotoStack({ tempPrefix: 'zdd-aws-new-user-' });
  const tempDir = (prefix?: string) => aws.tempDir(prefix);
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
  const zdd = (dir: string, args: string[], more: Record<string, string> = {}) => runZdd(args, dir, { ...aws.env, ...more }, 90_000, FAST);
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
    const l = (await aws.c.elb.send(new DescribeListenersCommand({ ListenerArns: [aws.stack.listenerArn] }))).Listeners![0];
    const res: Record<string, number> = {};
    for (const g of l.DefaultActions![0].ForwardConfig!.TargetGroups!) res[g.TargetGroupArn!.includes('/web-a/') ? 'web-a' : 'web-b'] = g.Weight!;
    return res;
  }
  async function tagsOf(i: 0 | 1): Promise<Record<string, string>> {
    const t = await aws.c.elb.send(new DescribeTagsCommand({ ResourceArns: [aws.stack.targetGroupArns[i]] }));
    return Object.fromEntries((t.TagDescriptions![0].Tags ?? []).map((x) => [x.Key!, x.Value!]));
  }

  it('item 2: a deploy without an image is refused (exit 2, nothing changed); provider.image names it; the same image again is called a redeploy', async () => {
    const dir = project();
    const r = await zdd(dir, ['deploy', '--revision', 'v5']);
    expect(r.code, out(r)).toBe(2);
    expect(r.stdout + r.stderr).toContain('On AWS, zdd deploy needs an image for revision v5: nothing was changed');
    expect(r.stdout + r.stderr).toContain('provider.image');
    expect(await weights()).toEqual({ 'web-a': 1 });
    expect((await aws.c.s3.send(new ListObjectsV2Command({ Bucket: aws.stack.bucket }))).KeyCount ?? 0).toBe(0);

    const templated = project({ image: 'repo/web:{{revision}}' });
    const d = await zdd(templated, ['deploy', '--revision', '1.4.2']);
    expect(d.code, out(d)).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 0, 'web-b': 100 });
    expect(await tagsOf(1)).toMatchObject({ 'zdd:revision': '1.4.2', 'zdd:image': 'repo/web:1.4.2' });

    const again = await zdd(templated, ['deploy', '--revision', '1.4.2-again', '--image', 'repo/web:1.4.2']);
    expect(again.code, out(again)).toBe(0);
    expect(again.stdout + again.stderr).toContain('Revision 1.4.2-again runs the same image as stable 1.4.2 (repo/web:1.4.2): this deploy is a redeploy of the same image');
  });

  async function rules(): Promise<Rule[]> {
    return (await aws.c.elb.send(new DescribeRulesCommand({ ListenerArn: aws.stack.listenerArn }))).Rules!;
  }
  async function ruleTags(arn: string): Promise<Record<string, string>> {
    const t = await aws.c.elb.send(new DescribeTagsCommand({ ResourceArns: [arn] }));
    return Object.fromEntries((t.TagDescriptions![0].Tags ?? []).map((x) => [x.Key!, x.Value!]));
  }
  const forwardsTo = (r: Rule) => r.Actions![0].ForwardConfig?.TargetGroups?.map((g) => `${g.TargetGroupArn!.split('/')[1]}:${g.Weight}`).join(',') ?? r.Actions![0].TargetGroupArn;
  const somebodysRule = (priority: number) =>
    aws.c.elb.send(
      new CreateRuleCommand({
        ListenerArn: aws.stack.listenerArn,
        Priority: priority,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: [`/admin-${priority}`] } }],
        Actions: [{ Type: 'forward', TargetGroupArn: aws.stack.targetGroupArns[0] }],
      }),
    );

  it('item 4: someone else\'s rules at priorities 1 and 50000 block neither a deploy nor a rollback; status that cannot read the provider exits 5', async () => {
    await somebodysRule(1);
    await somebodysRule(50000);
    const ci = project({}, `gates: { smoke: { checks: [{ type: 'command', run: 'test -n "$ZDD_TEST_HEADERS"' }] } },`);
    const d = await zdd(ci, ['deploy', '--image', 'repo/web:1.4.2', '--json']);
    expect(d.code, out(d)).toBe(0);
    expect(d.stdout).toContain('"kind":"testRoute"');
    expect((await rules()).map((r) => r.Priority)).toEqual(['1', '50000', 'default']);

    const laptop = project();
    const rb = await zdd(laptop, ['rollback', '--yes']);
    expect(rb.code, out(rb)).toBe(0);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
    expect((await rules()).map((r) => [r.Priority, forwardsTo(r)])).toEqual([['1', aws.stack.targetGroupArns[0]], ['50000', aws.stack.targetGroupArns[0]], ['default', 'web-a:100,web-b:0']]);

    // The records are readable, the provider is not (a wrong cluster): the recorded state, then exit 5.
    const broken = project({ cluster: 'gone' });
    const s = await zdd(broken, ['status']);
    expect(s.code, out(s)).toBe(5);
    expect(s.stdout + s.stderr).toMatch(/last (deploy|run): /);
    expect(s.stdout + s.stderr).toMatch(/Could not read production from the provider: ECS cluster "gone" not found/);
  });

  /** A second service (api-a / api-b) on the same listener, production on a host rule at priority 10. */
  async function addApiService(): Promise<void> {
    const vpc = (await aws.c.elb.send(new DescribeLoadBalancersCommand({ Names: ['web-alb'] }))).LoadBalancers![0].VpcId;
    const tgs: string[] = [];
    for (const name of ['api-a', 'api-b']) {
      tgs.push((await aws.c.elb.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, VpcId: vpc, TargetType: 'ip' }))).TargetGroups![0].TargetGroupArn!);
    }
    await aws.c.elb.send(
      new CreateRuleCommand({
        ListenerArn: aws.stack.listenerArn,
        Priority: 10,
        Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['api.example.com'] } }],
        Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgs[0], Weight: 1 }, { TargetGroupArn: tgs[1], Weight: 0 }] } }],
      }),
    );
    for (const [i, name] of ['api-a', 'api-b'].entries()) {
      await aws.c.ecs.send(
        new CreateServiceCommand({
          cluster: 'prod',
          serviceName: name,
          taskDefinition: aws.stack.taskDefinitionArn,
          desiredCount: i === 0 ? 1 : 0,
          launchType: 'FARGATE',
          loadBalancers: [{ targetGroupArn: tgs[i], containerName: 'web', containerPort: 8080 }],
        }),
      );
    }
    // moto sets runningCount from its environment at create time; an update makes running = desired.
    await aws.c.ecs.send(new UpdateServiceCommand({ cluster: 'prod', service: 'api-a', desiredCount: 1 }));
    await aws.bridge.syncOnce();
  }

  it('issue 8 item 10: two services on one listener touch only their own header rules and actions; a third config aimed at a claimed action is refused', async () => {
    await addApiService();
    // A smoke gate keeps each deploy's header rule up until its candidate holds 100%.
    const web = project({}, `gates: { smoke: { checks: [{ type: 'command', run: 'test -n "$ZDD_TEST_HEADERS"' }] } },`);
    writeFileSync(join(web, 'deploy.config.ts'), readFileSync(join(web, 'deploy.config.ts'), 'utf8').replace("{ weight: 50, pause: '1m' }", '{ weight: 10, pause: {} }'));
    const webDeploy = startZdd(['deploy', '--image', 'repo/web:1.4.2', '--json'], web, aws.env, FAST);
    await webDeploy.waitFor(/"type":"paused"/, 60_000);
    const webRule = (await rules()).find((r) => r.Priority === '50000')!;
    expect(await ruleTags(webRule.RuleArn!)).toEqual({ 'zdd:service': 'web' });
    expect(forwardsTo(webRule)).toBe(`web-b:1`);

    const api = tempDir('zdd-aws-api-');
    writeFileSync(
      join(api, 'deploy.config.ts'),
      readFileSync(join(web, 'deploy.config.ts'), 'utf8')
        .replace("service: 'web'", "service: 'api'")
        .replace('"web-a"', '"api-a"').replace('"web-a"', '"api-a"').replace('"web-b"', '"api-b"').replace('"web-b"', '"api-b"')
        .replace('"port":80}', '"port":80},"rule":{"priority":10}')
        .replace('{ weight: 10, pause: {} }', "{ weight: 50, pause: '1m' }"),
    );
    const apiDeploy = await zdd(api, ['deploy', '--image', 'repo/api:2.0.0', '--json']);
    expect(apiDeploy.code, out(apiDeploy)).toBe(0);
    // api's header rule went in before its production rule (9) and is gone; web's is untouched.
    expect(apiDeploy.stdout).toContain('"kind":"testRoute"');
    const after = await rules();
    expect(after.map((r) => r.Priority)).toEqual(['10', '50000', 'default']);
    expect(after.find((r) => r.Priority === '50000')).toEqual(webRule);
    expect(forwardsTo(after.find((r) => r.Priority === '10')!)).toBe('api-a:0,api-b:100');
    expect(await weights()).toEqual({ 'web-a': 90, 'web-b': 10 });
    expect(await ruleTags(after.find((r) => r.Priority === '10')!.RuleArn!)).toEqual({ 'zdd:service': 'api' });

    // A config for another service aimed at web's action (the listener default) is refused, nothing changed.
    const shop = tempDir('zdd-aws-shop-');
    writeFileSync(join(shop, 'deploy.config.ts'), readFileSync(join(api, 'deploy.config.ts'), 'utf8').replace("service: 'api'", "service: 'shop'").replace(',"rule":{"priority":10}', ''));
    const refused = await zdd(shop, ['deploy', '--image', 'repo/shop:1']);
    expect(refused.code, out(refused)).toBe(5);
    expect(refused.stdout + refused.stderr).toMatch(/The default action of listener .* is managed by zdd for service "web" \(tag zdd:service=web\), not for "shop"/);
    expect(await weights()).toEqual({ 'web-a': 90, 'web-b': 10 });

    const abort = await zdd(web, ['abort']);
    expect(abort.code, out(abort)).toBe(0);
    expect((await webDeploy.done).code).toBe(130);
    expect((await rules()).map((r) => r.Priority)).toEqual(['10', 'default']);
    expect(await weights()).toEqual({ 'web-a': 100, 'web-b': 0 });
  });

  it.skipIf(Number(process.versions.node.split('.')[0]) >= 22)('item 6: the AWS SDK\'s Node-version notice is one line, once a day, and other warnings still show', async () => {
    const dir = project();
    const cache = tempDir();
    // Another warning, emitted by the process the way any library would: it must still reach stderr.
    writeFileSync(join(cache, 'warn.mjs'), "setTimeout(() => process.emitWarning('some other warning'), 0);\n");
    // The SDK's own switch off (the test files set it for their own clients).
    const plain = { ...aws.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' };
    const run = () => runZdd(['status'], dir, { ...plain, XDG_CACHE_HOME: cache, NODE_OPTIONS: `--import ${join(cache, 'warn.mjs')}` }, 90_000);
    const first = await run();
    expect(first.code, out(first)).toBe(0);
    const notices = first.stderr.split('\n').filter((l) => /Node\.js 22/.test(l));
    expect(notices).toEqual([expect.stringMatching(/^zdd: note: AWS SDK releases after January 2027 need Node\.js 22 or newer and this is Node\.js v\d+\.\d+\.\d+; upgrade Node/)]);
    expect(first.stderr).not.toContain('NodeVersionSupportWarning');
    expect(first.stderr).toContain('some other warning');
    const second = await run();
    expect(second.code, out(second)).toBe(0);
    expect(second.stderr).not.toMatch(/Node\.js 22|NodeVersionSupportWarning/);
    expect(second.stderr).toContain('some other warning');
  });
});
