import { AddTagsCommand, DescribeTagsCommand, type Rule } from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsErrorCode } from '../../aws/aws-errors.js';
import { ProviderError } from '../../core/errors.js';
import { awsCall, type AwsClients } from './aws-clients.js';

/**
 * What zdd owns on a shared load balancer, told by tags: zdd writes an action (a listener's
 * default action, a rule) only when it carries `zdd:service=<this service>` or no zdd tag at all
 * (then zdd claims it on its first write), and it finds its header rule by that tag, never by
 * priority alone. Two services sharing one listener never touch each other's rules.
 */
export const OWNER_TAG = 'zdd:service';

/** Tag writes are bookkeeping after a write that succeeded: retried this many times, then a warning. */
const TAG_ATTEMPTS = 3;
const TAG_BACKOFF_MS = [200, 800];

/** Tags of ELB resources (listeners, rules, target groups) by ARN; DescribeTags takes 20 per call. */
export async function describeElbTags(clients: AwsClients, arns: string[]): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (let i = 0; i < arns.length; i += 20) {
    const batch = arns.slice(i, i + 20);
    const res = await awsCall<{ TagDescriptions?: { ResourceArn?: string; Tags?: { Key?: string; Value?: string }[] }[] }>(
      clients.elb,
      'elasticloadbalancing',
      new DescribeTagsCommand({ ResourceArns: batch }),
      batch.length === 1 ? batch[0] : `${batch.length} load balancer resources`,
    );
    for (const d of res.TagDescriptions ?? []) {
      const tags: Record<string, string> = {};
      for (const t of d.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
      if (d.ResourceArn) out.set(d.ResourceArn, tags);
    }
  }
  return out;
}

/**
 * AddTags with retries. Returns false (after `warn`) when every attempt failed: the write it
 * records already happened, so a failed tag is a warning, never a failed step.
 */
export async function addTagsWithRetry(clients: AwsClients, arn: string, tags: Record<string, string>, label: string, warn: (m: string) => void): Promise<boolean> {
  let last: unknown;
  for (let attempt = 1; attempt <= TAG_ATTEMPTS; attempt++) {
    try {
      await awsCall(clients.elb, 'elasticloadbalancing', new AddTagsCommand({ ResourceArns: [arn], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }), label);
      return true;
    } catch (e) {
      last = e;
      if (attempt < TAG_ATTEMPTS) await new Promise((r) => setTimeout(r, TAG_BACKOFF_MS[attempt - 1]));
    }
  }
  // The SDK's own error (awsCall wraps it): its code and words, without the call repeated.
  const raw = last instanceof Error && last.cause ? last.cause : last;
  const why = raw instanceof Error ? `${awsErrorCode(raw) ? `${awsErrorCode(raw)}: ` : ''}${raw.message}` : String(raw);
  warn(`Could not tag ${label} (${Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(', ')}) after ${TAG_ATTEMPTS} attempts: ${why}. The change itself was made; the next zdd command writes the tags again.`);
  return false;
}

/** Throws when the resource's action belongs to another service's zdd; true when nobody has claimed it yet. */
export function checkOwner(tags: Record<string, string> | undefined, service: string, what: string): { claimed: boolean } {
  const owner = tags?.[OWNER_TAG];
  if (owner && owner !== service) {
    throw new ProviderError(`${what} is managed by zdd for service "${owner}" (tag ${OWNER_TAG}=${owner}), not for "${service}": zdd leaves it alone`, {
      hint: 'Two services cannot weight the same action: give each its own listener rule (provider.rule) or listener. If that service is gone, remove the tag.',
    });
  }
  return { claimed: owner === service };
}

/** zdd's header rule for `service`: an http-header rule on `header` tagged with the service. */
export async function findOwnRule(clients: AwsClients, rules: Rule[], header: string, service: string): Promise<Rule | undefined> {
  const candidates = rules.filter((r) => r.RuleArn && !r.IsDefault && isHeaderRule(r, header));
  if (candidates.length === 0) return undefined;
  const tags = await describeElbTags(clients, candidates.map((r) => r.RuleArn!));
  return candidates.find((r) => tags.get(r.RuleArn!)?.[OWNER_TAG] === service);
}

/** Is this an http-header rule on `header` (the kind zdd creates for its test route)? */
export function isHeaderRule(rule: Rule, header: string): boolean {
  return (rule.Conditions ?? []).some((c) => c.Field === 'http-header' && c.HttpHeaderConfig?.HttpHeaderName?.toLowerCase() === header.toLowerCase());
}

/**
 * The priority for a new header rule when the config names none: the highest free priority
 * before the production rule (before 50000 when production is the listener's default action).
 * Evaluated last among the rules that come first, it catches only requests production would
 * get, and people rarely use those numbers.
 */
export function freePriority(rules: Rule[], productionPriority: number | undefined): number | undefined {
  const taken = new Set(rules.map((r) => Number(r.Priority)).filter((n) => Number.isFinite(n)));
  for (let p = Math.min(50_000, (productionPriority ?? 50_001) - 1); p >= 1; p--) if (!taken.has(p)) return p;
  return undefined;
}
