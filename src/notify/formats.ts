import type { Notification } from './notification.js';

const ICON: Record<Notification['event'], string> = {
  start: ':rocket:',
  pause: ':double_vertical_bar:',
  rollback: ':rotating_light:',
  'rolled-back': ':leftwards_arrow_with_hook:',
  'needs-person': ':sos:',
  success: ':white_check_mark:',
};

/** A Slack incoming-webhook body: one mrkdwn text with the same facts as the JSON body. */
export function slackBody(n: Notification): { text: string } {
  const lines = [`${ICON[n.event]} *${n.service}*${n.env ? ` (${n.env})` : ''}: ${n.event} — ${n.strategy} ${n.stable ?? '(nothing)'} → ${n.revision}`, escape(n.message)];
  if (n.step) lines.push(`step ${n.step.index + 1}/${n.step.total}${n.step.phase === 'rollback' ? ' (rollback)' : ''}: ${escape(n.step.description)}`);
  if (n.check) {
    const seen = n.check.observed ? Object.entries(n.check.observed).map(([k, v]) => `${k}=${v}`).join(', ') : n.check.message;
    lines.push(`check \`${escape(n.check.name)}\`: ${n.check.verdict} (${escape(seen)}${n.check.threshold ? `; wanted ${escape(n.check.threshold)}` : ''})`);
  }
  if (n.commands) lines.push(`\`${n.commands.promote}\` to continue, \`${n.commands.abort}\` to roll back`);
  lines.push(`by ${escape(n.who)} on ${escape(n.host)}${n.ciRunUrl ? ` · <${n.ciRunUrl}|CI run>` : ''} · deploy ${n.deploymentId}`);
  return { text: lines.join('\n') };
}

/** The generic webhook body: the notification itself, with a format version for receivers. */
export function webhookBody(n: Notification): Notification & { source: 'zdd'; version: 1 } {
  return { source: 'zdd', version: 1, ...n };
}

/** Slack's three control characters. */
function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
