/**
 * The revision id an image reference stands for when no `--revision` is given: its tag
 * (`repo/web:1.4.2` → `1.4.2`), the first 12 hex of its digest, or `latest` without either.
 * The CLI names a candidate with it and the AWS provider names a slot zdd never tagged with it.
 */
export function idFromImage(image: string): string {
  const digest = image.split('@')[1];
  if (digest) return digest.replace(/^sha256:/, '').slice(0, 12);
  const last = image.split('/').pop() ?? image;
  return last.includes(':') ? last.split(':').pop()! : 'latest';
}
