import { z } from 'zod';
import { cookieName, duration, nonEmptyString, show } from '../../config/schema-helpers.js';

const serverName = (d: string) =>
  nonEmptyString(d).regex(/^[A-Za-z0-9_.:-]+$/, { error: (iss) => `must be an HAProxy name (letters, digits, _ . : -), got ${show(iss.input)}` });

/**
 * The `haproxy` router: zdd fills server slots of one backend with the instances of each
 * revision and sets their weights through HAProxy's Runtime API. docs/haproxy.md has the
 * haproxy.cfg it needs.
 */
export const haproxyRouterSchema = z.strictObject({
  type: z.literal('haproxy'),
  runtimeApi: nonEmptyString(
    'HAProxy\'s Runtime API: the path of its stats socket (`stats socket <path> level admin`) or host:port (`stats socket ipv4@<host>:<port> level admin`)',
  ),
  backend: serverName('The backend whose server slots zdd fills with the instances of each revision'),
  slots: serverName('Name prefix of zdd\'s server slots in the backend: `server-template zdd 1-10 zdd-slot.invalid:1 disabled init-addr last,127.0.0.1` makes zdd1…zdd10 (default "zdd")').optional(),
  url: nonEmptyString('Where production traffic enters HAProxy\'s frontend, e.g. "http://127.0.0.1:80": checks, hooks and `zdd status` use it')
    .regex(/^https?:\/\//, { error: (iss) => `must be an http:// or https:// URL, got ${show(iss.input)}` })
    .optional(),
  testRoute: z
    .strictObject({
      map: nonEmptyString('The map file the frontend\'s use_backend reads (as written in haproxy.cfg), e.g. "/etc/haproxy/zdd-test-route.map"'),
      backend: serverName('The backend the test route selects; zdd fills its slots with the candidate\'s instances'),
      header: nonEmptyString('Request header that selects the test route (default "X-Canary")').optional(),
      value: nonEmptyString('Header value that selects the test route (default "always")').optional(),
    })
    .optional()
    .describe('A header route to the candidate before it has weight: zdd adds `<value> <backend>` to the map while the candidate is tested, and removes it after'),
  sticky: z
    .union([
      z.boolean(),
      z.strictObject({
        cookie: cookieName('Name of the cookie the backend\'s `cookie` line sets (default "zdd-server")').optional(),
      }),
    ])
    .optional()
    .describe(
      'Sticky sessions: the backend pins each client to the instance that served it with a cookie (`cookie zdd-server insert indirect nocache dynamic` in haproxy.cfg, docs/haproxy.md); preflight warns when HAProxy does not. ' +
        'New clients go by weight; clients of a revision that drops to 0% (promote, rollback) move at their next request. Default off',
    ),
  watchInterval: duration('How often a running deploy looks for an HAProxy reload that lost zdd\'s weights, and writes them again (default 1s)').optional(),
  timeout: duration('Time one Runtime API call may take (default 5s)').optional(),
});

export type HaproxyRouterConfig = z.output<typeof haproxyRouterSchema>;

export const HAPROXY_DEFAULTS = {
  slots: 'zdd',
  header: 'X-Canary',
  value: 'always',
  watchIntervalMs: 1_000,
  stickyCookie: 'zdd-server',
  timeoutMs: 5_000,
} as const;
