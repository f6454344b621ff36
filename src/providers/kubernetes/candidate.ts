import { UsageError } from '../../core/errors.js';
import type { RevisionSpec } from '../../core/provider.js';

/** The candidate a deploy on Kubernetes runs: it needs an image, from `--image` or `provider.image` with `{{revision}}` replaced. */
export function kubernetesCandidate(candidate: RevisionSpec, config: { image?: string }): RevisionSpec {
  if (candidate.image) return candidate;
  if (config.image) return { ...candidate, image: config.image.replaceAll('{{revision}}', candidate.id) };
  throw new UsageError(
    `On Kubernetes, zdd deploy needs an image for revision ${candidate.id}: nothing was changed`,
    "Pass --image <ref>, or set provider.image to a template such as 'registry.example.com/web:{{revision}}' so that --revision alone names the image. To go back to a revision that ran before, use `zdd rollback`.",
  );
}
