import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { EventBus, type ZddEventWithTime } from '../../src/core/events.js';
import { LocalProvider, resolveLocalConfig } from '../../src/providers/local/local-provider.js';
import type { LocalProviderConfig } from '../../src/providers/local/schema.js';
import { freePort } from '../../src/providers/local/processes.js';
import { defaultRouterEntry, type RouterEntry } from '../../src/providers/local/router-process.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const EXAMPLE_APP = join(ROOT, 'examples/local/app.mjs');

/** The built router (npm test builds first) starts in ~50ms; the TypeScript one through jiti takes seconds. */
export function routerEntry(): RouterEntry {
  const built = join(ROOT, 'dist/src/providers/local/router/router-main.js');
  return existsSync(built) ? { execArgv: [], script: built } : defaultRouterEntry();
}

export interface LocalFixture {
  provider: LocalProvider;
  dir: string;
  port: number;
  events: ZddEventWithTime[];
  cleanup(): Promise<void>;
}

/** A LocalProvider over the example app in a temp dir, on a free port; cleanup downs everything. */
export async function localFixture(overrides: Partial<LocalProviderConfig> = {}, clock: Clock = systemClock): Promise<LocalFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-local-'));
  const port = await freePort('127.0.0.1');
  const bus = new EventBus();
  const events: ZddEventWithTime[] = [];
  bus.on((e) => events.push(e));
  const config: LocalProviderConfig = {
    type: 'local',
    command: ['node', EXAMPLE_APP],
    port,
    health: { path: '/health', interval: 50 },
    stopGrace: 2_000,
    ...overrides,
  };
  const provider = new LocalProvider(resolveLocalConfig(config, dir), {
    service: 'web',
    configDir: dir,
    stateDir: join(dir, '.zdd'),
    env: undefined,
    clock,
    events: bus,
    options: {},
  }, routerEntry());
  return {
    provider,
    dir,
    port,
    events,
    async cleanup() {
      await provider.down().catch(() => undefined);
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
