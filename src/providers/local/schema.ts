import { z } from 'zod';
import { cookieName, duration, intBetween, nonEmptyString, show } from '../../config/schema-helpers.js';
import type { RouterLimits, StickySessions } from './router-state.js';

/**
 * The local provider: revisions run as local processes, traffic goes through zdd's own router.
 * Every field is described: the README config reference is generated from these descriptions.
 */
export const localProviderSchema = z.strictObject({
  type: z.literal('local'),
  command: z
    .union([nonEmptyString(), z.array(nonEmptyString()).min(1, { error: 'must name at least the program to run' })], {
      error: (iss) => `must be a shell command string or an argv array, got ${show(iss.input)}`,
    })
    .describe(
      'How to start one instance: a string run by /bin/sh, or an argv array run without a shell. ' +
        '`{{revision}}`, `{{port}}` and `{{service}}` are replaced; PORT, ZDD_REVISION, ZDD_SERVICE and ZDD_INSTANCE are in its environment',
    ),
  port: intBetween(1, 65535, 'Port the router listens on for production traffic (default 8080)').optional(),
  host: nonEmptyString('Address the router and the instances bind to (default "127.0.0.1")').optional(),
  cwd: nonEmptyString('Working directory of the instances, relative to the config file (default: the config file\'s directory)').optional(),
  env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for every instance'),
  health: z
    .strictObject({
      path: nonEmptyString('HTTP path that must answer 2xx before an instance takes traffic (default "/health")')
        .regex(/^\//, { error: (iss) => `must start with "/", got ${show(iss.input)}` })
        .optional(),
      interval: duration('Time between health probes while an instance starts (default 200ms)').optional(),
    })
    .optional()
    .describe('How the router decides an instance is healthy (the timeout is the top-level health.timeout)'),
  testRoute: z
    .strictObject({
      header: nonEmptyString('Request header that selects the test route (default "X-Canary")').optional(),
      value: nonEmptyString('Header value that selects the test route (default: a random secret drawn each time a deploy sets the test route, given to hooks and checks in ZDD_TEST_HEADERS; see valueFromEnv)').optional(),
      valueFromEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: (iss) => `must be an environment variable name, got ${show(iss.input)}` })
        .optional()
        .describe('Name of an environment variable holding the header value, so that it is not a public constant (default ZDD_TEST_ROUTE_VALUE when set)'),
    })
    .optional()
    .describe('Requests carrying this header go to the candidate, before it has any weight'),
  sticky: z
    .union([
      z.boolean(),
      z.strictObject({
        cookie: cookieName('Name of the cookie (default "zdd-revision")').optional(),
        maxAge: duration('Lifetime of the cookie (default: until the browser closes)').optional(),
      }),
    ])
    .optional()
    .describe(
      'Sticky sessions: the router sets a cookie naming the revision that answered, and a client that sends it back stays on that revision while it has weight. ' +
        'New clients go by weight; when their revision drops to 0% (promote, rollback) clients move at their next request. Default off',
    ),
  stopGrace: duration('Time between SIGTERM and SIGKILL when an instance is stopped (default 5s)').optional(),
  timeouts: z
    .strictObject({
      clientHeaders: duration('Time a client has to send the request headers (default 10s)').optional(),
      clientIdle: duration('Time an idle keep-alive client connection stays open (default 60s)').optional(),
      upstreamConnect: duration('Time to connect to an instance before the next one is tried; in the end 504 (default 2s)').optional(),
      upstreamHeaders: duration('Time an instance has to answer with response headers; then 504, counted as an error of its revision (default 60s)').optional(),
    })
    .optional()
    .describe('Timeouts of the local router'),
  maxConnections: intBetween(1, 1_000_000, 'Client connections each router process holds at once; at the limit the longest-idle keep-alive connection makes room, and with all busy a new client gets 503 (default 4096)').optional(),
  deadMansSwitch: z
    .union([
      z.boolean(),
      z.strictObject({
        strategies: z.array(nonEmptyString()).optional().describe('Strategies whose deploys it guards (default ["canary", "linear"])'),
        interval: duration('How often the router looks at the lock (default 1s)').optional(),
      }),
    ])
    .optional()
    .describe(
      'When the deploy holding the lock dies (its process is gone or its lease ran out) while its candidate has weight, the router itself puts 100% back on stable and records why. ' +
        'Needs the file state store: with S3 or Kubernetes state it is off, and asking for it is refused (exit 2). `false` turns it off (default on with file state)',
    ),
  logLines: intBetween(1, 500, 'Lines of an instance\'s log shown when it fails to start (default 20)').optional(),
});

/** zdd's own router (the default): its settings are the provider's own (port, testRoute, sticky, timeouts …). */
export const localRouterSchema = z.strictObject({
  type: z.literal('local'),
});

export type LocalProviderConfig = z.output<typeof localProviderSchema>;

/** The config with every default filled in. */
export interface ResolvedLocalConfig {
  command: string | string[];
  port: number;
  host: string;
  cwd: string;
  env: Record<string, string>;
  healthPath: string;
  healthIntervalMs: number;
  testHeader: string;
  /** The configured test-route value; undefined: the router draws a secret one each time the test route is set. */
  testValue: string | undefined;
  stopGraceMs: number;
  logLines: number;
  limits: RouterLimits;
  /** Sticky sessions by cookie; null: off. */
  sticky: StickySessions | null;
  deadMansSwitch: { enabled: boolean; strategies: string[]; intervalMs: number };
}

export const LOCAL_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  healthPath: '/health',
  healthIntervalMs: 200,
  testHeader: 'X-Canary',
  stickyCookie: 'zdd-revision',
  stopGraceMs: 5_000,
  logLines: 20,
  testValueEnv: 'ZDD_TEST_ROUTE_VALUE',
  deadMansSwitchStrategies: ['canary', 'linear'],
  deadMansSwitchIntervalMs: 1_000,
} as const;
