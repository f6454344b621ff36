import { z } from 'zod';
import { duration, intBetween, nonEmptyString, show } from '../../config/schema-helpers.js';

/**
 * The `hosts` platform: instances on machines zdd does not manage itself, started and stopped by
 * the user's own commands (ssh + systemd, an Ansible play, a cloud CLI). One instance of a revision
 * per host, on a port of `ports` that no other revision uses there, so that two revisions run side
 * by side on the same hosts.
 */
export const hostsPlatformSchema = z.strictObject({
  type: z.literal('hosts'),
  hosts: z
    .array(nonEmptyString())
    .min(1, { error: 'must list at least one host' })
    .describe('Addresses of the hosts (IP addresses or names this machine resolves); a revision with N replicas runs on the first N'),
  ports: z
    .array(intBetween(1, 65535))
    .min(2, { error: 'must list at least two ports: the running revision and the candidate each need one on every host' })
    .refine((p) => new Set(p).size === p.length, { error: (iss) => `must not repeat a port, got ${show(iss.input)}` })
    .meta({ description: 'Ports an instance may take on a host; a new revision takes one that no running revision uses there', uniqueItems: true }),
  provision: nonEmptyString(
    'Command (run by /bin/sh here) that starts one instance and returns, e.g. "ssh {{host}} sudo systemctl start app@{{port}}"; ' +
      '{{host}}, {{port}}, {{revision}}, {{image}} and {{service}} are replaced, ZDD_HOST, ZDD_PORT, ZDD_REVISION, ZDD_IMAGE and ZDD_SERVICE are in its environment',
  ),
  retire: nonEmptyString('Command that stops one instance (after zdd took it out of routing and its drain time passed), e.g. "ssh {{host}} sudo systemctl stop app@{{port}}"; same placeholders'),
  health: z
    .strictObject({
      path: nonEmptyString('HTTP path each instance answers 2xx on when healthy (default "/health")')
        .regex(/^\//, { error: (iss) => `must start with "/", got ${show(iss.input)}` })
        .optional(),
      interval: duration('Time between health probes while an instance starts (default 500ms)').optional(),
    })
    .optional()
    .describe('How zdd decides an instance on a host is healthy: GET http://<host>:<port><path> (the timeout is the top-level health.timeout)'),
  commandTimeout: duration('Time a provision or retire command may take before it is killed (default 2m)').optional(),
  cwd: nonEmptyString('Working directory of the commands, relative to the config file (default: the config file\'s directory)').optional(),
  env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for the commands'),
});

export type HostsPlatformConfig = z.output<typeof hostsPlatformSchema>;

export const HOSTS_DEFAULTS = {
  healthPath: '/health',
  healthIntervalMs: 500,
  commandTimeoutMs: 120_000,
} as const;
