import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, ZDD_BIN } from './cli-harness.js';

/**
 * Issue 19 point 8: output into a pipe whose reader is gone. `| true` closes the reading end before
 * zdd writes (it exits at once), so every write meets EPIPE: deterministic, unlike `| head -1`.
 * Run as a CI step runs it, with pipefail, so zdd's own exit code counts.
 */
describe('zdd writing into a pipe nobody reads', { timeout: 30_000 }, () => {
  const piped = (args: string) => spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', `node ${ZDD_BIN} ${args} | true`], { cwd: ROOT, encoding: 'utf8' });

  it('--help: exit 0, no stack trace', () => {
    const r = piped('--help');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('status: the command ends with its own exit code, no stack trace', () => {
    const r = piped(`status --config ${join(ROOT, 'examples/local/deploy.config.ts')}`);
    expect(r.stderr).not.toMatch(/EPIPE|at .*\.js:\d+/);
    expect(r.status).toBe(0);
  });
});
