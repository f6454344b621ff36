import { ProviderError } from '../core/errors.js';

/** What an AWS error looks like across the SDK v3 clients (ServiceException and friends). */
interface AwsErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError', 'Forbidden']);
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown', 'RequestThrottled']);
const BAD_CREDENTIALS = new Set(['CredentialsProviderError', 'ExpiredToken', 'ExpiredTokenException', 'InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);

/** The error's AWS code (`AccessDenied`, `TargetGroupNotFound` …), or '' when it is not an AWS error. */
export function awsErrorCode(e: unknown): string {
  if (!e || typeof e !== 'object') return '';
  const err = e as AwsErrorShape;
  return err.Code ?? err.name ?? '';
}

/** Whether `e` (or the SDK error a ProviderError wraps) is `base`, spelled with or without the `Exception` suffix. */
export function isAwsError(e: unknown, base: string): boolean {
  const err = e instanceof Error && e.cause && !(e as AwsErrorShape).$metadata ? e.cause : e;
  if (!err || typeof err !== 'object') return false;
  const { name, Code } = err as AwsErrorShape;
  const strip = (s?: string) => s?.replace(/Exception$/, '');
  return strip(name) === base || strip(Code) === base;
}

/**
 * Turn an SDK error into one a person can act on: the IAM action that is missing, credentials
 * that are not there, throttling the SDK gave up on. `changed` says whether the call could have
 * modified production (writes), which decides the exit code when nothing catches it.
 */
export function toProviderError(e: unknown, call: { action: string; resource: string; changed?: boolean }): ProviderError {
  if (e instanceof ProviderError) return e;
  const code = awsErrorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  const changed = call.changed ?? false;
  if (ACCESS_DENIED.has(code) || ((e as AwsErrorShape)?.$metadata?.httpStatusCode === 403 && !BAD_CREDENTIALS.has(code))) {
    return new ProviderError(`Access denied: ${call.action} on ${call.resource}`, {
      cause: e,
      changed,
      code: 'access-denied',
      hint: `Allow "${call.action}" for the IAM role or user zdd runs as (docs/aws.md lists the minimal policy).`,
    });
  }
  if (BAD_CREDENTIALS.has(code)) {
    return new ProviderError(`AWS credentials are missing or invalid (${code}) calling ${call.action}`, {
      cause: e,
      changed,
      code: 'aws-credentials',
      hint: 'Configure credentials (AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID…, or an OIDC role in CI) and check them with `aws sts get-caller-identity`.',
    });
  }
  if (/Region is missing/i.test(message)) {
    return new ProviderError(`No AWS region is set for ${call.action}`, {
      cause: e,
      changed,
      code: 'aws-region',
      hint: 'Pass --region, set AWS_REGION, set provider.region in deploy.config.ts, or give the profile a region.',
    });
  }
  if (THROTTLED.has(code)) {
    const attempts = (e as AwsErrorShape).$metadata?.attempts;
    return new ProviderError(`AWS kept throttling ${call.action} on ${call.resource}${attempts ? ` after ${attempts} attempts` : ''} (${code})`, {
      cause: e,
      changed,
      code: 'aws-throttled',
      hint: 'Other tools share this account\'s API rate limits: retry later, raise provider.pollInterval, or set AWS_MAX_ATTEMPTS higher.',
    });
  }
  return new ProviderError(`${call.action} on ${call.resource} failed: ${code ? `${code}: ` : ''}${message}`, {
    cause: e,
    changed,
    code: 'aws',
    hint: 'Check the region, the resource names in deploy.config.ts and the credentials (`aws sts get-caller-identity`).',
  });
}
