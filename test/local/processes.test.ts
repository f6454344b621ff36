import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isAlive, processStartTime, programOf, stopGroup } from '../../src/providers/local/processes.js';

describe('process helpers', () => {
  it('never signals a process whose pid was reused (start time differs), stops the recorded one', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const pid = child.pid!;
    const started = processStartTime(pid);
    expect(started).toMatch(/^\d+$/);
    expect(await stopGroup(pid, 200, `${Number(started) + 1}`)).toBe('gone');
    expect(isAlive(pid, `${Number(started) + 1}`)).toBe(false);
    expect(isAlive(pid, started)).toBe(true);
    expect(await stopGroup(pid, 2_000, started)).toBe('terminated');
    await exited;
    expect(isAlive(pid)).toBe(false);
  });

  it('kills a group that ignores SIGTERM after the grace period', async () => {
    const child = spawn('sh', ['-c', 'trap "" TERM; sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await stopGroup(child.pid!, 300)).toBe('killed');
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(-child.pid!)).toBe(false);
  });

  it('knows the program of a command when it can', () => {
    expect(programOf(['node', 'app.mjs'])).toBe('node');
    expect(programOf('node app.mjs')).toBe('node');
    expect(programOf('FOO=1 BAR=2 ./server --port 1')).toBe('./server');
    expect(programOf('exec foo')).toBeUndefined();
    expect(programOf('$(which node) app.mjs')).toBeUndefined();
  });
});
