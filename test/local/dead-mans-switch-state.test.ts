import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import type { ProviderContext } from '../../src/core/provider.js';
import { localProvider, resolveLocalConfig } from '../../src/providers/local/local-provider.js';

/**
 * The local router's dead-man's switch reads the lock and the records from the state folder on its
 * machine. With the lock in S3 or a Kubernetes Lease it cannot see a deploy die, and an old deploy's
 * files from before the move would be all it sees: the switch is off, the provider declares no
 * watchdog (so no message promises one), and a config that asks for it is refused, naming why.
 */
const dir = mkdtempSync(join(tmpdir(), 'zdd-dms-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = { type: 'local' as const, command: 'node app.mjs' };
const ctx = (stateStore?: ProviderContext['stateStore']): ProviderContext => ({ service: 'web', configDir: dir, stateDir: join(dir, '.zdd'), stateStore, env: undefined, clock: systemClock, events: new EventBus(), options: {} });

describe("the dead-man's switch and where state lives", () => {
  it('is on with the file state store (the default) and off with S3 or Kubernetes state', () => {
    expect(resolveLocalConfig(base, dir, {}).deadMansSwitch.enabled).toBe(true);
    expect(resolveLocalConfig(base, dir, {}, 'file').deadMansSwitch.enabled).toBe(true);
    expect(resolveLocalConfig(base, dir, {}, 's3').deadMansSwitch.enabled).toBe(false);
    expect(resolveLocalConfig(base, dir, {}, 'kubernetes').deadMansSwitch.enabled).toBe(false);
    expect(resolveLocalConfig({ ...base, deadMansSwitch: false }, dir, {}, 's3').deadMansSwitch.enabled).toBe(false);
  });

  it('the provider declares its watchdog only where the switch can act', async () => {
    expect((await localProvider.create(base, ctx())).capabilities.watchdog?.name).toMatch(/dead-man's switch/);
    expect((await localProvider.create(base, ctx('s3'))).capabilities.watchdog).toBeUndefined();
    expect((await localProvider.create(base, ctx('kubernetes'))).capabilities.watchdog).toBeUndefined();
  });

  it('a config that asks for it with S3 state is refused, naming the key, why and the fix', () => {
    for (const asked of [true, { interval: 2000 }]) {
      const err = (() => {
        try {
          resolveLocalConfig({ ...base, deadMansSwitch: asked }, dir, {}, 's3');
        } catch (e) {
          return e;
        }
      })() as ConfigError;
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.issues[0]).toMatchObject({ path: 'provider.deadMansSwitch' });
      expect(err.issues[0]!.message).toMatch(/needs the file state store .* state\.type is "s3"; remove it or set it to false/);
    }
  });
});
