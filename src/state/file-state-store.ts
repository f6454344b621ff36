import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { LockHeldError, ZddError, type LockHolderInfo } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { DeploymentRecord, LockInfo, LockLease, LockStore, RecordStore, StateStore } from '../core/state.js';
import { createExclusive, readJsonFile as readJson, writeFileAtomic } from './atomic-file.js';
import { holderIsDead } from './lock-holder.js';

/** How long a lock lives without a heartbeat before it counts as stale. */
export const DEFAULT_LEASE_MS = 120_000;

interface LockFile {
  holder: LockHolderInfo;
  heartbeat: string;
  leaseMs: number;
  token: string;
}

/**
 * Records and lock as files under a directory (`.zdd/` by default):
 * `<dir>/<service>/records/<id>.json`, `<dir>/<service>/latest.json`, `<dir>/<service>/lock.json`.
 */
export class FileStateStore implements StateStore {
  readonly records: RecordStore;
  readonly lock: LockStore;
  constructor(readonly dir: string, clock: Clock) {
    this.records = new FileRecordStore(dir);
    this.lock = new FileLockStore(dir, clock);
  }
  get location(): string {
    return this.dir;
  }
}

export class FileRecordStore implements RecordStore {
  constructor(private readonly dir: string) {}

  async latest(service: string): Promise<DeploymentRecord | null> {
    return readJson<DeploymentRecord>(join(this.dir, service, 'latest.json'));
  }

  async save(record: DeploymentRecord): Promise<void> {
    const json = JSON.stringify(record, null, 2);
    await writeFileAtomic(join(this.dir, record.service, 'records', `${record.id}.json`), json);
    await writeFileAtomic(join(this.dir, record.service, 'latest.json'), json);
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, service, 'records'));
    } catch {
      return [];
    }
    const records = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readJson<DeploymentRecord>(join(this.dir, service, 'records', n))));
    return records
      .filter((r): r is DeploymentRecord => r !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id))
      .slice(0, limit);
  }
}

export class FileLockStore implements LockStore {
  constructor(private readonly dir: string, private readonly clock: Clock, private readonly leaseMs = DEFAULT_LEASE_MS) {}

  private path(service: string): string {
    return join(this.dir, service, 'lock.json');
  }

  async acquire(service: string, holder: LockHolderInfo, opts: { waitMs: number; pollMs?: number }): Promise<LockLease> {
    const deadline = this.clock.now() + opts.waitMs;
    for (;;) {
      const token = `${holder.host}:${holder.pid}:${this.clock.now()}:${Math.random().toString(36).slice(2)}`;
      const file: LockFile = { holder, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token };
      if (await createExclusive(this.path(service), JSON.stringify(file, null, 2))) {
        return this.lease(service, token);
      }
      const info = await this.inspect(service);
      if (info && this.clock.now() >= deadline) throw new LockHeldError(service, info.holder, info.stale, info.staleReason);
      if (!info) continue; // released between our attempt and the read
      await this.clock.sleep(Math.min(opts.pollMs ?? 1000, Math.max(1, deadline - this.clock.now())));
    }
  }

  async inspect(service: string): Promise<LockInfo | null> {
    const file = await readJson<LockFile>(this.path(service));
    if (!file) return null;
    const age = this.clock.now() - Date.parse(file.heartbeat);
    let staleReason: string | undefined;
    if (holderIsDead(file.holder)) staleReason = `process ${file.holder.pid} on ${file.holder.host} is no longer running`;
    else if (age > file.leaseMs) staleReason = `no heartbeat for ${Math.round(age / 1000)}s (lease ${Math.round(file.leaseMs / 1000)}s)`;
    return { holder: file.holder, heartbeat: file.heartbeat, leaseMs: file.leaseMs, stale: staleReason !== undefined, staleReason };
  }

  async forceRelease(service: string): Promise<boolean> {
    const existed = (await readJson<LockFile>(this.path(service))) !== null;
    await rm(this.path(service), { force: true });
    return existed;
  }

  async takeOver(service: string, holder: LockHolderInfo, deploymentId: string): Promise<LockLease> {
    const info = await this.inspect(service);
    if (info && !info.stale && info.holder.pid !== process.pid) {
      throw new LockHeldError(service, info.holder, false);
    }
    if (info && info.holder.deploymentId && info.holder.deploymentId !== deploymentId) {
      throw new ZddError('lock-other-deploy', `Service "${service}" is locked by another deploy (${info.holder.deploymentId}), not ${deploymentId}`, {
        exitCode: ExitCode.LockHeld,
        hint: 'Run `zdd lock status` to see it.',
      });
    }
    const token = `${holder.host}:${holder.pid}:${this.clock.now()}:takeover`;
    const file: LockFile = { holder: { ...holder, deploymentId }, heartbeat: new Date(this.clock.now()).toISOString(), leaseMs: this.leaseMs, token };
    await writeFileAtomic(this.path(service), JSON.stringify(file, null, 2));
    return this.lease(service, token);
  }

  private lease(service: string, token: string): LockLease {
    const path = this.path(service);
    let released = false;
    return {
      token,
      heartbeat: async () => {
        if (released) return;
        const file = await readJson<LockFile>(path);
        if (!file || file.token !== token) {
          throw new ZddError('lock-lost', `The lock of service "${service}" was released or taken by someone else while this command held it`, {
            exitCode: ExitCode.NeedsPerson,
            hint: 'Run `zdd lock status` and `zdd status` to see who acts on the service now.',
          });
        }
        file.heartbeat = new Date(this.clock.now()).toISOString();
        await writeFileAtomic(path, JSON.stringify(file, null, 2));
      },
      release: async () => {
        if (released) return;
        released = true;
        const file = await readJson<LockFile>(path);
        if (file && file.token === token) await rm(path, { force: true });
      },
    };
  }
}

