import { watch } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { DeploymentRecord, DeploymentRequest, DeploymentRequests, LockStore, RecordStore, RequestKind, StateStore } from '../core/state.js';
import { readJsonFile, writeFileAtomic, type JsonFileKind } from './atomic-file.js';
import { FileLockStore } from './file-lock-store.js';
import { isDeploymentRecord, isDeploymentRequest, requestOf } from './record-shape.js';

export { DEFAULT_LEASE_MS } from './stored-lock.js';
export { FileLockStore } from './file-lock-store.js';


const LATEST: JsonFileKind<DeploymentRecord> = {
  what: 'State file',
  valid: isDeploymentRecord,
  hint: 'latest.json is a copy of the newest record in the records/ folder next to it: copy that one over it (or remove latest.json if records/ is empty and you know production is on stable), then run `zdd status`.',
};
const RECORD: JsonFileKind<DeploymentRecord> = {
  what: 'Deployment record',
  valid: isDeploymentRecord,
  hint: 'Move it out of the records/ folder (zdd then ignores it), then run `zdd status`.',
};
const REQUEST: JsonFileKind<DeploymentRequest> = {
  what: 'Deploy request',
  valid: isDeploymentRequest,
  hint: 'Remove it (it only asks a running deploy to abort or promote) and run the command again.',
};
const REQUEST_KINDS: RequestKind[] = ['abort', 'promote'];

/**
 * Records and lock as files under a directory (`.zdd/` by default):
 * `<dir>/<service>/records/<id>.json`, `<dir>/<service>/latest.json`, `<dir>/<service>/lock/<generation>.json`,
 * and requests from other processes in `<dir>/<service>/requests/<id>.<abort|promote>.json`.
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
    return readJsonFile(join(this.dir, service, 'latest.json'), LATEST);
  }

  async save(record: DeploymentRecord): Promise<void> {
    const json = JSON.stringify(record, null, 2);
    await writeFileAtomic(join(this.dir, record.service, 'records', `${record.id}.json`), json);
    await writeFileAtomic(join(this.dir, record.service, 'latest.json'), json);
  }

  /** One file per deployment and kind, written whole: no read-modify-write, and the record is never touched. */
  async request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void> {
    await writeFileAtomic(this.requestPath(service, deploymentId, kind), JSON.stringify(requestOf(request), null, 2));
  }

  async requests(service: string, deploymentId: string): Promise<DeploymentRequests> {
    const out: DeploymentRequests = {};
    for (const kind of REQUEST_KINDS) {
      const r = await readJsonFile(this.requestPath(service, deploymentId, kind), REQUEST);
      if (r) out[kind] = requestOf(r);
    }
    return out;
  }

  /**
   * inotify on the requests folder (made here if need be, 0700 as writeFileAtomic makes it): a
   * request written on this machine wakes the deploy at once. Across machines sharing the folder
   * (NFS), no event comes and the poll remains. An error of the watch only ends the watch.
   */
  async watchRequests(service: string, onRequest: () => void): Promise<() => void> {
    const dir = join(this.dir, service, 'requests');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const watcher = watch(dir, { persistent: false }, () => onRequest());
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  }

  private requestPath(service: string, deploymentId: string, kind: RequestKind): string {
    return join(this.dir, service, 'requests', `${deploymentId}.${kind}.json`);
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, service, 'records'));
    } catch {
      return [];
    }
    const records = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readJsonFile(join(this.dir, service, 'records', n), RECORD)));
    return records
      .filter((r): r is DeploymentRecord => r !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id))
      .slice(0, limit);
  }
}
