import { UsageError } from '../../core/errors.js';
import type { RevisionSpec } from '../../core/provider.js';

/**
 * The candidate a deploy on AWS runs: it needs an image (or a task definition ARN), from
 * `--image` or from `provider.image` with `{{revision}}` replaced. Without one the new slot would
 * run stable's task definition again and a deploy would report success for a no-op.
 */
export function awsCandidate(candidate: RevisionSpec, config: { image?: string }): RevisionSpec {
  if (candidate.image) return candidate;
  if (config.image) return { ...candidate, image: config.image.replaceAll('{{revision}}', candidate.id) };
  throw new UsageError(
    `On AWS, zdd deploy needs an image for revision ${candidate.id}: nothing was changed`,
    "Pass --image <ref> (the revision id defaults to its tag), or set provider.image to a template such as '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:{{revision}}' so that --revision alone names the image. To go back to a revision that ran before, use `zdd rollback`.",
  );
}
