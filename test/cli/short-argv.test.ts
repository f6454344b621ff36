import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortArgv } from '../../src/cli/short-argv.js';
import { buildProgram } from '../../src/cli/program.js';
import { runZdd } from './cli-harness.js';

/**
 * `zdd flag kill` is the incident path, so it does the least before its write: it reads its argv
 * without commander's command tree (as `zdd validate` does) and checks only the config's `flags` section before the kill;
 * the rest of the config is checked afterwards. These tests hold the two short cuts to what the
 * long way gives: the same options, the same target, the same refusals of a bad `flags` section.
 */

/** What commander's tree hands the command for `argv`, or the error it ends with. */
async function viaCommander(args: string[]): Promise<{ name?: string; opts?: unknown; globals?: Record<string, unknown>; error?: string }> {
  let seen: { name: string; opts: unknown; globals: Record<string, unknown> } | undefined;
  const program = buildProgram(async (_load, opts, cmd) => {
    seen = { name: cmd.name(), opts, globals: cmd.optsWithGlobals() };
  });
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    await program.parseAsync(['node', 'zdd', ...args]);
  } catch (e) {
    return { error: (e as Error).message };
  }
  return seen ?? {};
}

describe('zdd flag kill and zdd validate: argv without commander', () => {
  const taken = [
    ['flag', 'kill', 'new-checkout'],
    ['flag', 'kill', 'new-checkout', '--json'],
    ['--config', 'deploy.config.json', 'flag', 'kill', 'f'],
    ['flag', 'kill', 'f', '-c', 'a/b.json', '-e', 'staging'],
    ['flag', '--env=staging', 'kill', 'f', '--config=x.ts', '--no-color', '--verbose', '-y'],
    ['-c', 'first.json', 'flag', 'kill', 'f', '--config', 'second.json'],
    ['flag', 'kill', 'f', '--yes', '--json', '--no-color'],
    ['validate'],
    ['validate', '--provider-checks'],
    ['--env', 'staging', 'validate', '-c', 'x.json', '--json', '--provider-checks', '--no-color'],
  ];
  it.each(taken)('%s: the same options and globals as commander gives the command', async (...args) => {
    const fast = shortArgv(['node', 'zdd', ...args]);
    const slow = await viaCommander(args);
    expect(slow.name).toBe(args.includes('validate') ? 'validate' : 'kill');
    expect(fast!.command).toBe(args.includes('validate') ? 'validate' : 'flag kill');
    expect(fast).toBeDefined();
    expect(fast!.opts).toEqual(slow.opts);
    expect(fast!.globals).toEqual(slow.globals);
  });

  const leftToCommander = [
    ['flag', 'kill'],
    ['flag', 'kill', 'a', 'b'],
    ['flag', 'get', 'f'],
    ['flag', 'kill', 'f', '--help'],
    ['flag', 'kill', 'f', '--region', 'eu-west-1'],
    ['flag', 'kill', 'f', '--config'],
    ['flag', 'kill', 'f', '-c', '--json'],
    ['flag', 'kill', 'f', '-cx.json'],
    ['flag', 'kill', '--', 'f'],
    ['kill', 'flag', 'f'],
    ['release', 'kill', 'f'],
    ['flag', 'kill', 'f', '--provider-checks'],
    ['validate', 'extra'],
    ['validate', '--region', 'eu-west-1'],
    ['validate', '--help'],
  ];
  it.each(leftToCommander)('%s: left to commander', (...args) => {
    expect(shortArgv(['node', 'zdd', ...args])).toBeUndefined();
  });
});

describe('zdd flag kill: the flags section first, the rest of the config after the kill (built binary, flagd file)', () => {
  let dir: string;
  const FLAG = 'new-checkout';
  const flagFile = (enabled: boolean) =>
    `${JSON.stringify({ flags: { [FLAG]: { state: enabled ? 'ENABLED' : 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } }, null, 2)}\n`;
  const stateOf = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')).flags[FLAG].state;
  const config = (extra: Record<string, unknown>) =>
    writeFileSync(
      join(dir, 'deploy.config.json'),
      JSON.stringify({ service: 'web', provider: { type: 'local', command: 'node app.mjs' }, flags: { provider: 'openfeature-file', path: 'flags.json' }, ...extra }),
    );

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-kill-switch-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a mistake outside `flags` does not hold up the kill: the flag is off, exit 0, and the warning names the mistake', async () => {
    writeFileSync(join(dir, 'flags.json'), flagFile(true));
    config({ gates: { smoke: { checks: [] } } });
    const kill = await runZdd(['flag', 'kill', FLAG], dir);
    expect(kill.code, kill.stdout + kill.stderr).toBe(0);
    expect(stateOf('flags.json')).toBe('DISABLED');
    expect(kill.stdout + kill.stderr).toMatch(/the rest of the config is not valid, so no running release of it was looked up[\s\S]*gates\.smoke\.checks: a gate needs at least one check/);
    expect(kill.stdout + kill.stderr).toContain('Fix the config, then run `zdd status`');
    // A read changes nothing, so it checks the whole config first, as every other command does.
    const get = await runZdd(['flag', 'get', FLAG], dir);
    expect(get.code).toBe(2);
    expect(get.stderr + get.stdout).toContain('gates.smoke.checks');
  });

  it('a bad `flags` section is a config error before anything changes (exit 2, the field named)', async () => {
    writeFileSync(join(dir, 'flags.json'), flagFile(true));
    config({ flags: { provider: 'openfeature-file', path: 'flags.json', pathh: 'typo.json' } });
    const kill = await runZdd(['flag', 'kill', FLAG], dir);
    expect(kill.code).toBe(2);
    expect(kill.stdout + kill.stderr).toMatch(/flags\.pathh: unknown key; did you mean "path"\?/);
    expect(stateOf('flags.json')).toBe('ENABLED');
  });

  it("--env: the environment's flags section is the one killed, and an unknown environment changes nothing", async () => {
    writeFileSync(join(dir, 'flags.json'), flagFile(true));
    writeFileSync(join(dir, 'staging-flags.json'), flagFile(true));
    config({ environments: { staging: { flags: { path: 'staging-flags.json' } } } });
    const unknown = await runZdd(['flag', 'kill', FLAG, '--env', 'prod'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout + unknown.stderr).toContain('Environment "prod" is not defined in the config');
    const kill = await runZdd(['flag', 'kill', FLAG, '--env', 'staging'], dir);
    expect(kill.code, kill.stdout + kill.stderr).toBe(0);
    expect(stateOf('staging-flags.json')).toBe('DISABLED');
    expect(stateOf('flags.json')).toBe('ENABLED');
    expect(kill.stdout + kill.stderr).not.toContain('not valid');
  });
});
