import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isAlive } from '../../src/providers/local/processes.js';
import { localProject, type LocalProject, type ProjectOptions } from '../local/e2e-project.js';
import { EXAMPLE_APP } from '../local/local-fixture.js';
import type { Haproxy } from '../helpers/haproxy.js';
import { systemClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { HaproxyRouter } from '../../src/providers/haproxy/haproxy-router.js';

/** The one-machine commands docs/haproxy.md gives (127.0.0.1 and 127.0.0.2 are both loopback). */
export const HOSTS_PROVISION = 'mkdir -p run; HOST={{host}} PORT={{port}} ZDD_REVISION={{revision}} nohup node app.mjs > run/{{host}}-{{port}}.log 2>&1 & echo $! > run/{{host}}-{{port}}.pid';
export const HOSTS_RETIRE = 'kill $(cat run/{{host}}-{{port}}.pid) && rm run/{{host}}-{{port}}.pid';

/** Pids of the instances HOSTS_PROVISION started under `home` (its run/*.pid files) that are alive. */
export function runningInstancePids(home: string): number[] {
  const run = join(home, 'run');
  if (!existsSync(run)) return [];
  return readdirSync(run)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number(readFileSync(join(run, f), 'utf8')))
    .filter((pid) => isAlive(pid));
}

export interface HostsProject extends LocalProject {
  /** Where the "hosts" keep their instances (the commands' cwd): pid and log files. */
  home: string;
  /** Pids of the instances the commands started and that still run. */
  instancePids(): number[];
}

/** The `router:` entry of a provider block that puts the test's HAProxy in front (4 spaces in). */
export function haproxyRouterBlock(h: Haproxy, extra = ''): string {
  return `router: {
      type: 'haproxy',
      runtimeApi: ${JSON.stringify(h.socket)},
      backend: ${JSON.stringify(h.backend)},
      url: ${JSON.stringify(h.url)},
      testRoute: { map: ${JSON.stringify(h.map)}, backend: ${JSON.stringify(h.testBackend)} },
      watchInterval: '200ms',${extra ? `
      ${extra}` : ''}
    },`;
}

/** The `provider` block of a hosts platform behind `h`, with instances under `home`. */
export async function hostsProviderBlock(h: Haproxy, home: string, routerExtra = ''): Promise<string> {
  const ports = [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1')];
  return `{
    type: 'hosts',
    hosts: ['127.0.0.1', '127.0.0.2'],
    ports: ${JSON.stringify(ports)},
    cwd: ${JSON.stringify(home)},
    provision: ${JSON.stringify(HOSTS_PROVISION)},
    retire: ${JSON.stringify(HOSTS_RETIRE)},
    health: { path: '/health', interval: '50ms' },
    ${haproxyRouterBlock(h, routerExtra)}
  }`;
}

/** A project on the hosts platform behind a real HAProxy, through the built binary (see localProject). */
export async function hostsProject(h: Haproxy, opts: ProjectOptions & { home?: string; routerExtra?: string } = {}): Promise<HostsProject> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'zdd-hosts-home-'));
  copyFileSync(EXAMPLE_APP, join(home, 'app.mjs'));
  const p = await localProject({ ...opts, provider: opts.provider ?? (await hostsProviderBlock(h, home, opts.routerExtra)) });
  const instancePids = () => runningInstancePids(home);
  return {
    ...p,
    url: `${h.url}/`,
    home,
    instancePids,
    async cleanup() {
      await p.cleanup();
      for (const pid of instancePids()) process.kill(pid, 'SIGKILL');
      if (!opts.home) rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A router of the test's own on `h`, reading which revision runs where from the project's hosts inventory (as another zdd process would). */
export function inventoryRouter(h: Haproxy, projectDir: string): HaproxyRouter {
  type Inventory = { revisions: Record<string, { instances: { host: string; port: number; status: string }[] }> };
  const inv = () => JSON.parse(readFileSync(join(projectDir, '.zdd/hosts/web.json'), 'utf8')) as Inventory;
  return new HaproxyRouter(
    { type: 'haproxy', runtimeApi: h.socket, backend: h.backend },
    {
      directory: {
        revisions: async () => Object.keys(inv().revisions),
        instanceUrls: async (id) => (inv().revisions[id]?.instances ?? []).filter((i) => i.status === 'ready').map((i) => `http://${i.host}:${i.port}`),
      },
      clock: systemClock,
      events: new EventBus(),
    },
  );
}
