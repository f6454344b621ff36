import { resolve } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { StateStore } from '../core/state.js';
import type { ZddConfig } from '../config/schema.js';
import { FileStateStore } from './file-state-store.js';

/** The one place that picks a state store from config; the S3 store (and its SDK) loads only when used. */
export async function createStateStore(
  config: ZddConfig['state'],
  ctx: { configDir: string; clock: Clock; options: Record<string, string | undefined> },
): Promise<StateStore> {
  if (!config || config.type === 'file') {
    // Locks live in real time (leases, --lock-wait), whatever clock the engine bakes with.
    return new FileStateStore(resolve(ctx.configDir, config?.dir ?? '.zdd'), systemClock);
  }
  if (config.type === 'kubernetes') {
    const { createKubernetesStateStore } = await import('./kubernetes-state-store.js');
    return createKubernetesStateStore(config, ctx.options);
  }
  const { createS3StateStore } = await import('./s3-state-store.js');
  return createS3StateStore(config, {
    region: ctx.options.region,
    profile: ctx.options.profile,
    endpoint: process.env.AWS_ENDPOINT_URL,
  });
}

/** The local state directory (provider files such as the local router's live here even with remote state). */
export function localStateDir(config: ZddConfig['state'], configDir: string): string {
  return resolve(configDir, config?.type === 'file' && config.dir ? config.dir : '.zdd');
}
