import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutMoto, startMoto, type Moto } from '../helpers/moto.js';
import { freePort } from '../../src/providers/local/processes.js';
import { explain, localProject, ZDD_BIN, type LocalProject } from '../local/e2e-project.js';

/**
 * State in S3 while the provider is local: the bucket's own `region` and `profile` (state.region,
 * state.profile) are all zdd has to reach it; every command opens it the same way, and none prints
 * the AWS SDK's multi-line Node-version warning (issue 16: `history` and `report` did).
 */
describe.skipIf(skipWithoutMoto() || !existsSync(ZDD_BIN))('S3 state with the local provider (built binary, moto)', { timeout: 120_000 }, () => {
  let moto: Moto;
  let home: string;
  let p: LocalProject;
  /** No AWS_* credentials or region in the environment: only the config's profile and region reach the bucket. */
  let env: Record<string, string>;
  const BUCKET = 'zdd-state-local';

  beforeAll(async () => {
    moto = await startMoto();
    home = mkdtempSync(join(tmpdir(), 'zdd-s3-home-'));
    writeFileSync(join(home, 'credentials'), '[zdd-state]\naws_access_key_id = state-key\naws_secret_access_key = state-secret\n');
    writeFileSync(join(home, 'config'), '');
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    // In this process's environment too, so that the projects' own cleanup (`zdd down`) reaches the bucket.
    env = {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      AWS_CONFIG_FILE: join(home, 'config'),
      // The one-line zdd note is stamped once a day here; the SDK's own warning must never show.
      XDG_CACHE_HOME: join(home, 'cache'),
    };
    Object.assign(process.env, env);
    const s3 = new S3Client({ endpoint: moto.endpoint, region: 'eu-west-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    s3.destroy();
    p = await localProject({ extra: `state: { type: 's3', bucket: '${BUCKET}', region: 'eu-west-1', profile: 'zdd-state' },` });
  });
  afterAll(async () => {
    await p?.cleanup();
    await moto?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('a deploy keeps its record and lock in the bucket; history, report, status and lock status read it; no SDK warning', async () => {
    const deploy = await p.run(['deploy', '--revision', 'v1'], env);
    expect(deploy.code, explain(deploy)).toBe(0);
    expect(existsSync(join(p.dir, '.zdd/web')), 'no record or lock in the local state directory').toBe(false);

    const s3 = new S3Client({ endpoint: moto.endpoint, region: 'eu-west-1', forcePathStyle: true, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key);
    s3.destroy();
    expect(keys).toContain('zdd/web/latest.json');

    const outputs = [deploy];
    for (const args of [['history'], ['report'], ['status'], ['lock', 'status']]) {
      const r = await p.run(args, env);
      expect(r.code, `zdd ${args.join(' ')}: ${explain(r)}`).toBe(0);
      outputs.push(r);
    }
    expect(outputs[1].stdout + outputs[1].stderr).toContain('v1');
    for (const r of outputs) {
      expect(r.stderr).not.toMatch(/NodeDeprecationWarning|AWS SDK for JavaScript \(v3\)/);
      // At most zdd's own one line, once a day.
      expect(r.stderr.match(/AWS SDK/g)?.length ?? 0).toBeLessThanOrEqual(1);
    }
  });

  it("asking for the router's dead-man's switch with S3 state is refused before anything starts (exit 2): the router reads only local locks", async () => {
    const port = await freePort('127.0.0.1');
    const asks = await localProject({
      provider: `{ type: 'local', command: 'node app.mjs', port: ${port}, health: { path: '/health', interval: '50ms' }, deadMansSwitch: true }`,
      extra: `state: { type: 's3', bucket: '${BUCKET}', region: 'eu-west-1', profile: 'zdd-state' },`,
    });
    try {
      const r = await asks.run(['deploy', '--revision', 'v1'], env);
      expect(r.code, explain(r)).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/provider\.deadMansSwitch: needs the file state store .* state\.type is "s3"/);
      expect(await fetch(`http://127.0.0.1:${port}/`).then(() => 'answered', () => 'nothing listens'), 'no router started').toBe('nothing listens');
    } finally {
      await asks.cleanup();
    }
  });

  it('the state profile is what reaches the bucket: a profile that does not exist is an error naming it', async () => {
    const bad = await localProject({ extra: `state: { type: 's3', bucket: '${BUCKET}', region: 'eu-west-1', profile: 'no-such-profile' },` });
    try {
      const r = await bad.run(['history'], env);
      expect(r.code, explain(r)).not.toBe(0);
      expect(r.stderr).toMatch(/AWS credentials are missing or invalid .* with the AWS profile "no-such-profile" for state bucket "zdd-state-local"/);
      expect(r.stderr).toMatch(/hint: Define the profile "no-such-profile"/);
    } finally {
      await bad.cleanup();
    }
  });
});
