import { z } from 'zod';
import { duration, intBetween, nonEmptyString, show } from '../../config/schema-helpers.js';

const ARN = /^arn:aws[a-z-]*:/;

/** An ARN of `service`; `expected` is the whole "must be …" phrase, alternatives included. */
function arnOf(service: string, description: string, expected: string) {
  return z
    .string({ error: (iss) => `must be ${expected}, got ${show(iss.input)}` })
    .regex(new RegExp(`^arn:aws[a-z-]*:${service}:`), { error: (iss) => `must be ${expected}, got ${show(iss.input)}` })
    .describe(description);
}

/** One slot: an ECS service and the target group its tasks register in. */
export const awsSlotSchema = z.strictObject({
  service: nonEmptyString('ECS service name or ARN, e.g. "web-a"'),
  targetGroup: nonEmptyString('Target group name or ARN the service registers its tasks in, e.g. "web-a"'),
});

export const awsListenerSchema = z.union(
  [
    arnOf('elasticloadbalancing', 'Listener ARN', 'a listener ARN (arn:aws:elasticloadbalancing:…) or { loadBalancer: "name", port: 443 }'),
    z.strictObject({
      loadBalancer: nonEmptyString('Application Load Balancer name (or ARN)'),
      port: intBetween(1, 65535, 'Listener port, e.g. 443'),
    }),
  ],
  { error: (iss) => `must be a listener ARN or { loadBalancer: "name", port: 443 }, got ${show(iss.input)}` },
);

export const awsRuleSchema = z.union(
  [
    arnOf('elasticloadbalancing', 'Listener rule ARN', 'a rule ARN (arn:aws:elasticloadbalancing:…) or { priority: 10 }'),
    z.strictObject({ priority: intBetween(1, 50000, 'Priority of the existing rule whose forward action zdd weights') }),
  ],
  { error: (iss) => `must be a rule ARN or { priority: 10 }, got ${show(iss.input)}` },
);

export const awsTestRouteSchema = z.strictObject({
  header: z
    .string({ error: (iss) => `must be a header name, got ${show(iss.input)}` })
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}$/, { error: (iss) => `must be an HTTP header name of at most 40 characters, got ${show(iss.input)}` })
    .regex(/^(?![Hh][Oo][Ss][Tt]$)/, { error: 'cannot be "Host" (use a custom header such as X-Canary)' })
    .describe('Header that sends a request to the candidate (default "X-Canary")')
    .optional(),
  value: z
    .string({ error: (iss) => `must be a string, got ${show(iss.input)}` })
    .min(1, { error: 'must not be empty' })
    .max(128, { error: 'must be at most 128 characters (an ALB limit)' })
    .describe('Header value (default "always"); ALB wildcards * and ? apply')
    .optional(),
  priority: intBetween(1, 50000, 'Priority of the header rule; must be free and lower (earlier) than the production rule (default: the highest free one before production)').optional(),
});

/**
 * ECS services behind an Application Load Balancer: two slots (service + target group), one
 * weighted forward action over both groups, a header rule to reach the candidate.
 */
export const awsProviderSchema = z.strictObject({
  type: z.literal('aws'),
  region: nonEmptyString('AWS region; --region overrides it (default: AWS_REGION / the profile\'s region)').optional(),
  profile: nonEmptyString('Named profile; --profile overrides it (default: AWS_PROFILE / the default credential chain)').optional(),
  cluster: nonEmptyString('ECS cluster name or ARN'),
  slots: z
    .array(awsSlotSchema, { error: (iss) => `must be a list of two { service, targetGroup }, got ${show(iss.input)}` })
    .length(2, { error: 'needs exactly two slots, e.g. [{ service: "web-a", targetGroup: "web-a" }, { service: "web-b", targetGroup: "web-b" }]' })
    .refine((s) => s.length !== 2 || (s[0].service !== s[1].service && s[0].targetGroup !== s[1].targetGroup), {
      error: 'the two slots need different services and different target groups',
    })
    .describe('The two ECS services and their target groups; one serves stable, the other takes the candidate'),
  listener: awsListenerSchema.describe('The production listener'),
  rule: awsRuleSchema.optional().describe("Weight this rule's forward action instead of the listener's default action"),
  container: nonEmptyString('Container whose image --image replaces (default: the only or first container)').optional(),
  image: nonEmptyString('Image a deploy with --revision and no --image runs: "{{revision}}" is replaced, e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:{{revision}}" (default: none, --image is required)').optional(),
  testRoute: z
    .union([awsTestRouteSchema, z.literal(false)], { error: (iss) => `must be { header, value, priority } or false, got ${show(iss.input)}` })
    .optional()
    .describe('Header rule that reaches the candidate before it has weight (default X-Canary: always, at the highest free priority before production); false disables it'),
  testListener: z
    .union([arnOf('elasticloadbalancing', 'Test listener ARN', 'a listener ARN (arn:aws:elasticloadbalancing:…) or { port: 8443 }'), z.strictObject({ port: intBetween(1, 65535, 'Port of a listener on the same load balancer') })], {
      error: (iss) => `must be a listener ARN or { port: 8443 }, got ${show(iss.input)}`,
    })
    .optional()
    .describe('A second listener whose default action zdd points at the candidate (blue-green smoke tests), like CodeDeploy test traffic'),
  url: z.url({ error: (iss) => `must be a URL such as "https://web.example.com", got ${show(iss.input)}` }).optional().describe('Production URL for checks and hooks (default http(s)://<load balancer DNS>:<port>)'),
  stickiness: duration(
    'Sticky canary: while traffic is split, a client stays on the target group (revision) that first served it for this long (ALB target group stickiness on the forward action, 1s–7d); ' +
      'zdd turns it on with each split and off when one revision holds 100% (promote, rollback), so clients move at their next request. Default: the listener\'s own setting, untouched',
  )
    .refine((ms) => ms >= 1000 && ms <= 7 * 24 * 3600 * 1000, { error: 'must be between 1s and 7d (the ALB limits)' })
    .optional(),
  pollInterval: duration('Time between health polls of ECS and the target group (default 5s; the API rate limits advise 5–15s)').optional(),
});
export type AwsProviderConfig = z.output<typeof awsProviderSchema>;

export function isArn(s: string): boolean {
  return ARN.test(s);
}

/** The ALB's weighted forward action (the only router of the aws platform): its settings are the provider's own (listener, target groups, testRoute). */
export const albRouterSchema = z.strictObject({
  type: z.literal('alb'),
});
