import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/providers/local/processes.js';
import { failedRequests, startLoad, type LoadReport, type LoadRun } from '../helpers/load-generator.js';
import { skipWithoutPostgres, startPostgres, type Postgres } from '../helpers/postgres.js';
import { explain, localProject, type LocalProject, type ZddResult } from '../local/e2e-project.js';
import { ROOT } from '../local/local-fixture.js';

/**
 * Migrations in phases against a real PostgreSQL 15, through the built binary and the local
 * router under load. v1 reads `items.name`; v2's expand adds `items.title` (v2 reads it) and its
 * contract drops `name`. The app names its connections `app-<revision>`, so the contract can see
 * whether v1 still runs when it drops v1's column.
 */
const skip = skipWithoutPostgres();
/** The little of `pg` (a dependency of unleash-server, untyped here) this test uses. */
interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
  end(): Promise<void>;
}
const pg = createRequire(join(ROOT, 'package.json'))('pg') as { Client: new (opts: { connectionString: string }) => PgClient };

const APP = `
import http from 'node:http';
import { createRequire } from 'node:module';
const pg = createRequire(process.env.ZDD_TEST_ROOT + '/package.json')('pg');
const rev = process.env.ZDD_REVISION;
const column = rev === 'v1' ? 'name' : 'title';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4, idleTimeoutMillis: 0, application_name: 'app-' + rev });
const server = http.createServer(async (req, res) => {
  try {
    const r = await pool.query('SELECT ' + column + ' AS v FROM items WHERE id = 1');
    res.end(req.url === '/health' ? 'ok' : rev + ' ' + r.rows[0].v + '\\n');
  } catch (e) {
    res.statusCode = 500;
    res.end(rev + ' database error: ' + e.message + '\\n');
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
`;

/** `node migrate.mjs expand|contract`, for the release named by MIG (v2 or v3). */
const MIGRATE = `
import { createRequire } from 'node:module';
const pg = createRequire(process.env.ZDD_TEST_ROOT + '/package.json')('pg');
const phase = process.argv[2];
const c = new pg.Client({ connectionString: process.env.DATABASE_URL, application_name: 'migrate' });
await c.connect();
if (process.env.SLOW_EXPAND && phase === 'expand') await new Promise((r) => setTimeout(r, 60_000));
if (process.env.MIG === 'v2' && phase === 'expand') {
  await c.query('ALTER TABLE items ADD COLUMN IF NOT EXISTS title text');
  await c.query('UPDATE items SET title = name WHERE title IS NULL');
}
if (process.env.MIG === 'v3' && phase === 'expand') await c.query('ALTER TABLE items ADD COLUMN IF NOT EXISTS note text');
if (phase === 'contract') {
  // What the contract sees of the old revision: its open connections (waits a moment for them to close).
  let v1 = 0;
  for (let i = 0; i < 30; i++) {
    v1 = Number((await c.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'app-v1'")).rows[0].n);
    if (v1 === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await c.query('INSERT INTO contract_log (release, migration_id, v1_connections) VALUES ($1, $2, $3)', [process.env.MIG, process.env.ZDD_MIGRATION_ID, v1]);
  if (process.env.MIG === 'v2') await c.query('ALTER TABLE items DROP COLUMN IF EXISTS name');
}
await c.end();
console.log('ZDD_SCHEMA_VERSION=' + (process.env.MIG === 'v3' ? '3' : '2'));
`;

const EXTRA = `migrations: process.env.MIG
    ? {
        expand: { command: 'node migrate.mjs expand', timeout: '90s' },
        contract: { command: 'node migrate.mjs contract', timeout: '30s', when: process.env.WHEN ?? 'after-release' },
      }
    : { schemaVersion: '1' },`;

describe.skipIf(skip)('migrations in phases on PostgreSQL 15', { timeout: 120_000 }, () => {
  let db: Postgres;
  let p: LocalProject;
  let load: LoadRun | undefined;
  let sql: PgClient;
  const all: LoadReport[] = [];

  const zdd = (args: string[], env: Record<string, string> = {}) => p.run(args, { DATABASE_URL: db.databaseUrl, ZDD_TEST_ROOT: ROOT, ...env });
  const start = (args: string[], env: Record<string, string> = {}) => p.start(args, { DATABASE_URL: db.databaseUrl, ZDD_TEST_ROOT: ROOT, ...env });
  const columns = async () => (await sql.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY column_name")).rows.map((r) => r.column_name);
  const done = (r: ZddResult) => r.events.filter((e) => e.type === 'done').pop();

  beforeAll(async () => {
    db = await startPostgres('shop');
    sql = new pg.Client({ connectionString: db.databaseUrl });
    await sql.connect();
    await sql.query("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES (1, 'teapot'); CREATE TABLE contract_log (release text, migration_id text, v1_connections int, at timestamptz DEFAULT now())");
    p = await localProject({ command: 'node app.mjs', replicas: 1, canarySteps: "[{ weight: 50, pause: '1s' }, { weight: 100 }]", extra: EXTRA });
    writeFileSync(join(p.dir, 'app.mjs'), APP);
    writeFileSync(join(p.dir, 'migrate.mjs'), MIGRATE);
    const first = await zdd(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
    load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 80, maxDurationMs: 100_000, maxRequests: 100_000 });
  });
  afterAll(async () => {
    if (load) all.push(await load.stop());
    const total = all[0];
    if (total) console.log(`migrations e2e load: ${total.requests} requests, ${failedRequests(total)} failed, by revision ${JSON.stringify(total.byRevision)}`);
    await p?.cleanup();
    await sql?.end().catch(() => undefined);
    await db?.stop();
  });

  it('expand runs before the candidate gets traffic; the old revision keeps working through the canary; a rollback before the contract works as today', async () => {
    const plan = await zdd(['plan', '--revision', 'v2'], { MIG: 'v2', WHEN: 'manual' });
    expect(plan.code, explain(plan)).toBe(0);
    const steps = plan.events.find((e) => e.type === 'plan').steps;
    expect(steps[0]).toEqual({ kind: 'migration', phase: 'expand' });
    expect(steps.slice(-2)).toEqual([{ kind: 'retire', role: 'stable' }, { kind: 'migration', phase: 'contract', manual: true }]);

    const window = load!.window();
    const deploy = await zdd(['deploy', '--revision', 'v2'], { MIG: 'v2', WHEN: 'manual' });
    const during = window.close();
    expect(deploy.code, explain(deploy)).toBe(0);
    expect(failedRequests(during), JSON.stringify(during.byStatus)).toBe(0);
    expect(during.byRevision.v1).toBeGreaterThan(0);
    expect(during.byRevision.v2).toBeGreaterThan(0);
    const expandAt = deploy.events.findIndex((e) => e.type === 'hook' && /^migration expand /.test(e.hook) && e.status === 'ok');
    const firstTraffic = deploy.events.findIndex((e) => (e.type === 'traffic' && e.weights.candidate > 0) || (e.type === 'step.start' && e.step.kind === 'provision'));
    expect(expandAt).toBeGreaterThanOrEqual(0);
    expect(expandAt).toBeLessThan(firstTraffic);
    expect(await columns()).toEqual(['id', 'name', 'title']);

    const latest = JSON.parse(readFileSync(join(p.dir, '.zdd', 'web', 'latest.json'), 'utf8'));
    expect(latest.migrations.contract).toMatchObject({ command: 'node migrate.mjs contract', state: 'pending' });

    // Before the contract: `zdd rollback` restores v1 as it always did, and v1 still finds its column.
    const back = await zdd(['rollback']);
    expect(back.code, explain(back)).toBe(0);
    expect(await (await fetch(p.url)).text()).toBe('v1 teapot\n');
  });

  it('contract after release drops the old column only once the old revision is retired; a rollback across it is refused (exit 2)', async () => {
    const window = load!.window();
    const deploy = await zdd(['deploy', '--revision', 'v2'], { MIG: 'v2', WHEN: 'after-release' });
    const during = window.close();
    expect(deploy.code, explain(deploy)).toBe(0);
    expect(failedRequests(during), JSON.stringify(during.byStatus)).toBe(0);
    expect(during.byRevision.v1).toBeGreaterThan(0);
    const retired = deploy.events.findIndex((e) => e.type === 'step.done' && e.step.kind === 'retire' && e.step.role === 'stable');
    const contractAt = deploy.events.findIndex((e) => e.type === 'hook' && /^migration contract /.test(e.hook) && e.status === 'start');
    expect(retired).toBeGreaterThanOrEqual(0);
    expect(contractAt).toBeGreaterThan(retired);
    const log = (await sql.query("SELECT migration_id, v1_connections FROM contract_log WHERE release = 'v2'")).rows;
    expect(log).toEqual([{ migration_id: `${deploy.events.find((e) => e.type === 'deploy.start').deploymentId}-contract`, v1_connections: 0 }]);
    expect(await columns()).toEqual(['id', 'title']);
    expect(await (await fetch(p.url)).text()).toBe('v2 teapot\n');

    const refused = await zdd(['rollback']);
    expect(refused.code, explain(refused)).toBe(2);
    expect(done(refused).message).toMatch(/Refusing to roll back to v1: it needs schema 1, but release .* ran its contract migration .*-contract/);
    expect(done(refused).hint).toMatch(/--force/);
    expect(await (await fetch(p.url)).text()).toBe('v2 teapot\n');

    const [history, status] = await Promise.all([zdd(['history']), zdd(['status'])]);
    const releases = history.events.find((e) => e.type === 'history').releases;
    expect(releases.slice(0, 3).map((r: any) => [r.revision, r.schemaVersion, r.contract])).toEqual([
      ['v2', '2', 'done'],
      ['v1', '1', undefined],
      ['v2', '2', 'pending'],
    ]);
    expect(status.events.find((e) => e.type === 'status').schemaVersions).toMatchObject({ v1: '1', v2: '2' });
  });

  it('kill -9 mid-expand: resume and rollback stop (exit 4) naming the migration until a person says whether it ran', async () => {
    const deploy = start(['deploy', '--revision', 'v3'], { MIG: 'v3', WHEN: 'manual', SLOW_EXPAND: '1' });
    const id = (await deploy.waitForEvent((e) => e.type === 'deploy.start')).deploymentId as string;
    await deploy.waitForEvent((e) => e.type === 'hook' && /^migration expand /.test(e.hook) && e.status === 'start');
    const record = () => JSON.parse(readFileSync(join(p.dir, '.zdd', 'web', 'records', `${id}.json`), 'utf8'));
    deploy.child.kill('SIGKILL');
    await deploy.done;
    const { pgid } = record().hookProcess;
    expect(isAlive(pgid)).toBe(true);

    const promote = await zdd(['promote'], { MIG: 'v3', WHEN: 'manual' });
    expect(promote.code, explain(promote)).toBe(4);
    expect(done(promote).message).toContain(`Migration expand ${id}-expand (\`node migrate.mjs expand\`)`);
    expect(done(promote).hint).toMatch(/--migration-ran.*--migration-not-run/);
    expect(isAlive(pgid)).toBe(false); // the left-over migration was ended before zdd asked
    const rollback = await zdd(['rollback'], { MIG: 'v3' });
    expect(rollback.code, explain(rollback)).toBe(4);
    expect(record().migrations.expand.state).toBe('running');

    const settled = await zdd(['rollback', '--migration-not-run'], { MIG: 'v3' });
    expect(settled.code, explain(settled)).toBe(0);
    expect(record().migrations.expand).toMatchObject({ state: 'not-run', settledBy: expect.stringContaining('--migration-not-run') });
    expect(await (await fetch(p.url)).text()).toBe('v2 teapot\n');
  });

  it('manual contract: `zdd contract` runs it later and records it; after it, the rollback guard holds', async () => {
    const deploy = await zdd(['deploy', '--revision', 'v3'], { MIG: 'v3', WHEN: 'manual' });
    expect(deploy.code, explain(deploy)).toBe(0);
    const id = deploy.events.find((e) => e.type === 'deploy.start').deploymentId;
    expect((await sql.query("SELECT count(*)::int AS n FROM contract_log WHERE release = 'v3'")).rows[0].n).toBe(0);

    const contract = await zdd(['contract'], { MIG: 'v3' });
    expect(contract.code, explain(contract)).toBe(0);
    expect(done(contract).message).toMatch(new RegExp(`Contract migration ${id}-contract ran .*schema is on version 3 only`));
    expect((await sql.query("SELECT migration_id FROM contract_log WHERE release = 'v3'")).rows).toEqual([{ migration_id: `${id}-contract` }]);

    const refused = await zdd(['rollback']);
    expect(refused.code, explain(refused)).toBe(2);
    expect(done(refused).message).toMatch(/v2: it needs schema 2/);
    const total = load!.report();
    expect(failedRequests(total), JSON.stringify(total.byStatus)).toBe(0);
  });
});
