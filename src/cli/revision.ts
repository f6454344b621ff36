import { UsageError } from '../core/errors.js';
import { idFromImage } from '../core/image-ref.js';
import type { RevisionSpec } from '../core/provider.js';

const REVISION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `--revision v2`, `--image repo/app:1.4.2` (id 1.4.2), or both. */
export function revisionFromFlags(flags: { revision?: string; image?: string }): RevisionSpec {
  const { revision, image } = flags;
  if (!revision && !image) throw new UsageError('deploy needs --revision <id> or --image <ref>', 'e.g. `zdd deploy --revision v2` or `zdd deploy --image repo/app:1.4.2`');
  const id = revision ?? idFromImage(image!);
  if (!REVISION_ID.test(id)) {
    throw new UsageError(`Revision id "${id}" is not valid`, 'Use letters, digits, ".", "_" and "-" (max 128), starting with a letter or digit; pass --revision to choose one.');
  }
  return image ? { id, image } : { id };
}
