import { ExitCode } from '../../core/exit-codes.js';
import { UsageError, ZddError } from '../../core/errors.js';
import { loadCommandConfig } from '../command-start.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';
import { openStateStore } from '../open-state-store.js';

async function store(globals: GlobalOptions, io: CommandIO) {
  const loaded = await loadCommandConfig(globals, io);
  return { service: loaded.config.service, store: await openStateStore(loaded, globals) };
}

export async function lockStatus(_flags: unknown, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const { service, store: s } = await store(globals, io);
  const info = await s.lock.inspect(service);
  if (io.output.json) io.output.data({ type: 'lock', service, lock: info });
  if (!info) return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `Lock of ${service} is free.` });
  const h = info.holder;
  const msg =
    `Lock of ${service} is held by ${h.who}@${h.host} (pid ${h.pid}) since ${h.since}` +
    `${h.command ? `, running \`zdd ${h.command}\`` : ''}${h.ciRunUrl ? `, CI run ${h.ciRunUrl}` : ''}${h.deploymentId ? `, deploy ${h.deploymentId}` : ''}; last heartbeat ${info.heartbeat}.` +
    (info.stale ? `\nIt looks STALE: ${info.staleReason}.` : '');
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: msg, hint: info.stale ? 'Release it with `zdd lock release --force` once you know no deploy runs; `zdd rollback` also takes over a crashed deploy by itself.' : undefined });
}

export async function lockRelease(flags: { force?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  if (!flags.force) throw new UsageError('Releasing a lock another deploy may hold needs --force', 'Check `zdd lock status` first, then run `zdd lock release --force`.');
  const { service, store: s } = await store(globals, io);
  // A damaged lock is what --force is for: say what it was, then remove it all the same.
  const info = await s.lock.inspect(service).catch((e: unknown) => {
    if (e instanceof ZddError && e.code === 'state-corrupt') return e;
    throw e;
  });
  const existed = await s.lock.forceRelease(service);
  const was = info instanceof ZddError ? `it was damaged: ${info.message}` : `held by ${info?.holder.who}@${info?.holder.host}, pid ${info?.holder.pid}`;
  return finish(io, {
    result: existed ? 'succeeded' : 'nothing-to-do',
    exitCode: ExitCode.Ok,
    message: existed ? `Released the lock of ${service} (${was}).` : `Lock of ${service} was already free.`,
    hint: existed ? 'Run `zdd status`: if the last deploy did not finish, `zdd rollback` puts production back on stable.' : undefined,
  });
}
