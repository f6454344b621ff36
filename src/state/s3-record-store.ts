import type { DeploymentRecord, DeploymentRequest, DeploymentRequests, RecordStore, RequestKind } from '../core/state.js';
import type { JsonFileKind } from './atomic-file.js';
import { isDeploymentRecord, isDeploymentRequest, requestOf } from './record-shape.js';
import type { S3Objects } from './s3-objects.js';

const RECORD_KIND: JsonFileKind<DeploymentRecord> = {
  valid: isDeploymentRecord,
  what: 'State object',
  hint: 'Restore it from the records/ prefix next to it (or a previous object version), or delete it if you know production is on stable.',
};

const REQUEST_KIND: JsonFileKind<DeploymentRequest> = {
  valid: isDeploymentRequest,
  what: 'Deploy request object',
  hint: 'Delete it (it only asks a running deploy to abort or promote) and run the command again.',
};

/** Records as `<prefix><service>/records/<id>.json` plus `latest.json`; requests as their own objects. */
export class S3RecordStore implements RecordStore {
  constructor(private readonly objects: S3Objects, private readonly prefix: string) {}

  private key(service: string, rest: string): string {
    return `${this.prefix}${service}/${rest}`;
  }

  async latest(service: string): Promise<DeploymentRecord | null> {
    return (await this.objects.get(this.key(service, 'latest.json'), RECORD_KIND))?.value ?? null;
  }

  async save(record: DeploymentRecord): Promise<void> {
    // Each PUT is atomic: readers see the old or the new object, never half of one.
    await this.objects.put(this.key(record.service, `records/${record.id}.json`), record);
    await this.objects.put(this.key(record.service, 'latest.json'), record);
  }

  /** Its own object per deployment and kind (outside records/): one PUT, the record is never rewritten. */
  async request(service: string, deploymentId: string, kind: RequestKind, request: DeploymentRequest): Promise<void> {
    await this.objects.put(this.key(service, `requests/${deploymentId}.${kind}.json`), requestOf(request));
  }

  async requests(service: string, deploymentId: string): Promise<DeploymentRequests> {
    const out: DeploymentRequests = {};
    for (const kind of ['abort', 'promote'] as const) {
      const r = (await this.objects.get(this.key(service, `requests/${deploymentId}.${kind}.json`), REQUEST_KIND))?.value;
      if (r) out[kind] = requestOf(r);
    }
    return out;
  }

  async history(service: string, limit: number): Promise<DeploymentRecord[]> {
    const objects = await this.objects.list(this.key(service, 'records/'));
    // Deployment ids start with a UTC timestamp, so key order is start order.
    const keys = objects
      .map((o) => o.Key ?? '')
      .filter((k) => k.endsWith('.json'))
      .sort()
      .reverse()
      .slice(0, limit);
    const records = await Promise.all(keys.map(async (k) => (await this.objects.get(k, RECORD_KIND))?.value ?? null));
    return records
      .filter((r): r is DeploymentRecord => r !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
  }
}
