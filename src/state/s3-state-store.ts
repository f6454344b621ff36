import type { z } from 'zod';
import type { StateStore } from '../core/state.js';
import { ZddError } from '../core/errors.js';
import type { s3StateSchema } from './schema.js';

// Stub: the AWS work (issue 4) replaces this file with the real S3 store.
export async function createS3StateStore(
  _config: z.output<typeof s3StateSchema>,
  _opts: { region?: string; profile?: string; endpoint?: string },
): Promise<StateStore> {
  throw new ZddError('not-implemented', 'The S3 state store is not implemented yet');
}
