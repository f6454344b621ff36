import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { explain, localProject, processesUnder, type LocalProject } from './e2e-project.js';

/** Bad situations end in a clear message and the right exit code, and leave nothing running. */
describe('local provider: clear errors, nothing left running', { timeout: 60_000 }, () => {
  let p: LocalProject | undefined;
  let blocker: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (blocker ? blocker.close(r) : r(undefined)));
    blocker = undefined;
    await p?.cleanup();
    p = undefined;
  });

  it('router port already in use by another program: exit 2 naming the port, nothing started', async () => {
    p = await localProject();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(p!.port, '127.0.0.1', r));
    const r = await p.run(['deploy', '--revision', 'v1']);
    expect(r.code, explain(r)).toBe(2);
    expect(explain(r)).toMatch(new RegExp(`provider\\.port: port ${p.port} on 127\\.0\\.0\\.1 is already in use by another program`));
    expect(p.routerState()).toBeNull();
    expect(processesUnder(p.dir)).toEqual([]);
  });

  it('command not found: exit 2 naming the command, nothing started', async () => {
    p = await localProject({ command: 'zdd-no-such-program --serve' });
    const r = await p.run(['deploy', '--revision', 'v1']);
    expect(r.code, explain(r)).toBe(2);
    expect(explain(r)).toMatch(/provider\.command: command "zdd-no-such-program" not found on PATH/);
    expect(p.routerState()).toBeNull();
    expect(processesUnder(p.dir)).toEqual([]);
  });

  it('a program missing behind shell syntax fails at start: exit 1 with the shell\'s words, nothing left running', async () => {
    p = await localProject({ command: 'exec zdd-no-such-program' });
    const r = await p.run(['deploy', '--revision', 'v1']);
    expect(r.code, explain(r)).toBe(1);
    expect(explain(r)).toMatch(/exited with code 127 while starting — command not found: exec zdd-no-such-program[\s\S]*not found/);
    expect(p.routerState()).toBeNull();
    expect(processesUnder(p.dir)).toEqual([]);
  });

  it('health path never answering: exit 1 at the timeout naming the path, nothing left running', async () => {
    p = await localProject({ command: 'node -e "setInterval(() => {}, 1000)"', healthTimeout: '2s' });
    const started = Date.now();
    const r = await p.run(['deploy', '--revision', 'v1']);
    expect(r.code, explain(r)).toBe(1);
    expect(explain(r)).toMatch(/did not become healthy within 2s: GET \/health never answered 2xx \(.*nothing listens on port/);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(p.routerState()).toBeNull();
    expect(processesUnder(p.dir)).toEqual([]);
  });
});
