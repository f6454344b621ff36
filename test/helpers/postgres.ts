import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './moto.js';

/**
 * A throwaway PostgreSQL cluster from Debian's `postgresql` package (initdb + pg_ctl) on a free
 * 127.0.0.1 port, in a temp dir. PostgreSQL refuses to run as root, so under root the cluster
 * belongs to the `postgres` user and every command runs through `runuser`.
 */

export const PG_BIN = process.env.ZDD_PG_BIN ?? findPgBin();

/** Debian puts each major version under /usr/lib/postgresql/<major>/bin; take the newest. */
function findPgBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  return join(root, majors[0] ?? '15', 'bin');
}

export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
}

/** Call at the top of a describe: true when the suite must skip (says why once); under CI a missing server fails. */
export function skipWithoutPostgres(): boolean {
  if (postgresAvailable()) return false;
  const why = `${PG_BIN}/initdb is not installed; install it with: apt-get install -y postgresql (or set ZDD_PG_BIN)`;
  if (process.env.CI) throw new Error(`${why}. CI must run the Unleash tests.`);
  console.warn(`Skipping Unleash tests: ${why}`);
  return true;
}

export interface Postgres {
  /** e.g. postgres://postgres@127.0.0.1:5433/unleash */
  databaseUrl: string;
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

function pgRun(bin: string, args: string[], timeoutMs: number): void {
  const cmd = join(PG_BIN, bin);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
}

/** Creates and starts a cluster with one database `name`, trusting local connections. */
export async function startPostgres(name = 'unleash'): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-pg-'));
  if (asRoot) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const port = await freePort();
  const log = join(dir, 'server.log');
  let started = false;
  try {
    pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync'], 60_000);
    pgRun('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], 40_000);
    started = true;
    pgRun('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name], 20_000);
  } catch (e) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    if (started) stopCluster(data);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start: ${(e as Error).message}\n${tail}`);
  }
  return {
    databaseUrl: `postgres://postgres@127.0.0.1:${port}/${name}`,
    stop: async () => {
      stopCluster(data);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function stopCluster(data: string): void {
  try {
    pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '20', 'stop'], 30_000);
  } catch {
    // already stopped
  }
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('No "postgres" user: install the postgresql package (apt-get install -y postgresql)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
