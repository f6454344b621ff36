import { z } from 'zod';
import { duration, show } from '../config/schema-helpers.js';

/** Moments a notification is sent at. */
export const NOTIFY_ON = ['start', 'pause', 'rollback', 'rolled-back', 'needs-person', 'success'] as const;
export type NotifyOn = (typeof NOTIFY_ON)[number];

export const notifyTargetSchema = z.strictObject({
  type: z.enum(['webhook', 'slack'], { error: (iss) => `type must be "webhook" (JSON body) or "slack" (incoming webhook), got ${show(iss.input)}` }).describe('"webhook": a JSON body with service, revision, strategy, step, result, reason, who, CI run URL; "slack": a Slack incoming-webhook message'),
  urlEnv: z
    .string({ error: 'is required: the name of the environment variable that holds the URL, e.g. urlEnv: "SLACK_WEBHOOK_URL"' })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: (iss) => `must be the name of an environment variable (the URL itself is a secret and stays out of the config), got ${show(iss.input)}` })
    .describe('Environment variable holding the webhook URL (never the URL: it is a secret)'),
  on: z.array(z.enum(NOTIFY_ON, { error: (iss) => `must be one of ${NOTIFY_ON.map((o) => `"${o}"`).join(', ')}, got ${show(iss.input)}` })).min(1).optional().describe(`When to send (default all: ${NOTIFY_ON.join(', ')})`),
  timeout: duration('Give up on one request after this long (default 5s); a slow or failing webhook only warns').optional(),
});

/** `notify: [{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }, { type: 'webhook', urlEnv: 'DEPLOY_HOOK_URL', on: ['rollback'] }]` */
export const notifySchema = z.array(notifyTargetSchema).describe('Webhooks told about a deploy: start, manual pause, rollback, failure that needs a person, success. URLs come from environment variables');

export type NotifyTarget = z.output<typeof notifyTargetSchema>;
