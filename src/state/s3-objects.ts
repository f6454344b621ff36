import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { ProviderError } from '../core/errors.js';
import { toProviderError } from '../aws/aws-errors.js';
import { parseStateJson, type JsonFileKind } from './atomic-file.js';

/** An object as read: its parsed value, its version (ETag) and S3's clock. */
export interface StoredObject<T> {
  value: T;
  etag: string;
  /** When S3 stored this version (its clock). */
  lastModified?: number;
  /** S3's clock when it answered (the response's Date header). */
  serverDate?: number;
}

/** Thin S3 access with errors translated for people: missing bucket, missing permission. */
export class S3Objects {
  /** `profile`: the named profile the client was made with, to name it when its credentials fail. */
  constructor(readonly client: S3Client, private readonly bucket: string, private readonly profile?: string) {}

  /** Read and parse an object; null when it does not exist; a damaged one is an error naming it. */
  async get<T>(key: string, kind: JsonFileKind<T>): Promise<StoredObject<T> | null> {
    const raw = await this.getRaw(key);
    if (!raw) return null;
    return { ...raw, value: parseStateJson(raw.body, `s3://${this.bucket}/${key}`, kind) };
  }

  /** Read an object's text without parsing it (to remove a damaged one). */
  async getRaw(key: string): Promise<(Omit<StoredObject<never>, 'value'> & { body: string }) | null> {
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: key });
    let serverDate: number | undefined;
    // The SDK drops the Date header from GetObject's output: read it off the raw response.
    command.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const date = (out.response as { headers?: Record<string, string> } | undefined)?.headers?.date;
        if (date && !Number.isNaN(Date.parse(date))) serverDate = Date.parse(date);
        return out;
      },
      { step: 'deserialize', name: 'zddServerDate' },
    );
    try {
      const res = await this.client.send(command);
      const body = (await res.Body?.transformToString('utf8')) ?? '';
      return { body, etag: res.ETag ?? '', lastModified: res.LastModified?.getTime(), serverDate };
    } catch (e) {
      if (isS3Error(e, 'NoSuchKey', 404)) return null;
      throw this.translate(e, 's3:GetObject', key);
    }
  }

  /** Write JSON. `ifNoneMatch` creates only; `ifMatch` replaces only that version. Returns the new ETag, or null when the condition failed. */
  async put(key: string, value: unknown, cond: { ifNoneMatch?: true; ifMatch?: string } = {}): Promise<string | null> {
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value, null, 2),
          ContentType: 'application/json',
          ...(cond.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}),
        }),
      );
      return res.ETag ?? '';
    } catch (e) {
      // 409 ConditionalRequestConflict: another conditional write to the key raced ours.
      if (isS3Error(e, 'PreconditionFailed', 412) || isS3Error(e, 'ConditionalRequestConflict', 409)) return null;
      throw this.translate(e, 's3:PutObject', key);
    }
  }

  /** Delete, only that version when `ifMatch` is given. Returns false when the condition failed. */
  async delete(key: string, cond: { ifMatch?: string } = {}): Promise<boolean> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}) }));
      return true;
    } catch (e) {
      if (isS3Error(e, 'NoSuchKey', 404)) return true;
      if (isS3Error(e, 'PreconditionFailed', 412)) return false;
      throw this.translate(e, 's3:DeleteObject', key);
    }
  }

  async list(prefix: string): Promise<_Object[]> {
    const out: _Object[] = [];
    let token: string | undefined;
    // Bounded: 20 pages of 1000 keys is far more records than anyone keeps.
    for (let page = 0; page < 20; page++) {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (e) {
        throw this.translate(e, 's3:ListBucket', prefix);
      }
      out.push(...(res.Contents ?? []));
      if (!res.IsTruncated || !res.NextContinuationToken) break;
      token = res.NextContinuationToken;
    }
    return out;
  }

  private translate(e: unknown, action: string, key: string): Error {
    if (isS3Error(e, 'NoSuchBucket', 404)) {
      return new ProviderError(`State bucket "${this.bucket}" does not exist`, {
        cause: e,
        code: 'state-bucket-missing',
        hint: `Create it (aws s3api create-bucket --bucket ${this.bucket}, with versioning on), or fix state.bucket in deploy.config.ts.`,
      });
    }
    if (isS3Error(e, 'PermanentRedirect', 301) || isS3Error(e, 'AuthorizationHeaderMalformed', 400)) {
      return new ProviderError(`State bucket "${this.bucket}" is in another region than the one zdd used`, {
        cause: e,
        code: 'state-bucket-region',
        hint: 'Set state.region in deploy.config.ts to the bucket\'s region.',
      });
    }
    const err = toProviderError(e, { action, resource: `s3://${this.bucket}/${key}` });
    if (err.code === 'aws-credentials' && this.profile) {
      return new ProviderError(`${err.message}, with the AWS profile "${this.profile}" for state bucket "${this.bucket}"`, {
        cause: e,
        code: err.code,
        hint: `Define the profile "${this.profile}" in ~/.aws/credentials or ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), or fix state.profile (or the provider's profile) in deploy.config.ts.`,
      });
    }
    if (err.code === 'access-denied') {
      const resource = action === 's3:ListBucket' ? `arn:aws:s3:::${this.bucket}` : `arn:aws:s3:::${this.bucket}/${key.replace(/[^/]+$/, '*')}`;
      return new ProviderError(err.message, { cause: e, code: err.code, hint: `Allow "${action}" on ${resource} for the IAM role or user zdd runs as (docs/aws.md lists the minimal policy).` });
    }
    return err;
  }
}

function isS3Error(e: unknown, name: string, status: number): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { Code?: string }).Code;
  if (e.name === name || code === name) return true;
  // Some S3 errors (HEAD-like, or bodies the emulator leaves out) arrive with only a status code.
  const http = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return http === status && (e.name === 'Unknown' || e.name === 'UnknownError' || e.name === `${status}`);
}
