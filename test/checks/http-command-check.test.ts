import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandCheck } from '../../src/checks/command-check.js';
import { runGate } from '../../src/checks/gate-runner.js';
import { HttpCheck, joinUrl } from '../../src/checks/http-check.js';
import { httpCheckSchema } from '../../src/checks/http-check-schema.js';
import type { CheckContext, CheckResult } from '../../src/core/checks.js';
import { FakeClock } from '../../src/core/clock.js';
import type { RevisionEndpoints } from '../../src/core/provider.js';

/** A backend that answers by path and records who asked with which headers. */
function backend(name: string): Promise<{ url: string; server: Server; seen: { path: string; headers: IncomingMessage['headers'] }[] }> {
  const seen: { path: string; headers: IncomingMessage['headers'] }[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    if (req.url === '/health') return res.writeHead(200).end(`ok from ${name}`);
    if (req.url === '/broken') return res.writeHead(503).end('down');
    if (req.url === '/created') return res.writeHead(201).end('created');
    res.writeHead(404).end('nope');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen })));
}

function context(endpoints: RevisionEndpoints, over: Partial<CheckContext> = {}): CheckContext {
  return {
    service: 'web',
    candidate: { id: 'v2' },
    stable: { id: 'v1' },
    endpoints: async () => endpoints,
    router: { setWeights: async () => {}, getWeights: async () => ({}) },
    clock: new FakeClock(),
    signal: new AbortController().signal,
    env: { ZDD_SERVICE: 'web', ZDD_REVISION: 'v2' },
    cwd: process.cwd(),
    ...over,
  };
}

const http = (c: Record<string, unknown>) => httpCheckSchema.parse({ type: 'http', ...c });

describe('HttpCheck', () => {
  let a: Awaited<ReturnType<typeof backend>>;
  let b: Awaited<ReturnType<typeof backend>>;
  beforeAll(async () => {
    a = await backend('a');
    b = await backend('b');
  });
  afterAll(() => {
    a.server.close();
    b.server.close();
  });

  it('issue 12 item 3: a probe that cannot connect names the URL and the cause (refused, TLS, DNS), not "fetch failed"', async () => {
    const closed = await backend('gone');
    const port = (closed.server.address() as AddressInfo).port;
    await new Promise((r) => closed.server.close(r));
    const refused = await new HttpCheck('smoke', http({ url: `http://127.0.0.1:${port}/health` })).measure(context({})).catch((e: Error) => e.message);
    expect(refused).toBe(`GET http://127.0.0.1:${port}/health: connection refused (nothing listens on that port) (ECONNREFUSED)`);
    // TLS spoken to a plain-HTTP server.
    const tls = await new HttpCheck('smoke', http({ url: `${a.url.replace('http:', 'https:')}/health` })).measure(context({})).catch((e: Error) => e.message);
    expect(tls).toMatch(new RegExp(`^GET ${a.url.replace('http:', 'https:')}/health: TLS error: `));
    const dns = await new HttpCheck('smoke', http({ url: 'http://no-such-host.invalid/health' })).measure(context({})).catch((e: Error) => e.message);
    expect(dns).toMatch(/^GET http:\/\/no-such-host\.invalid\/health: DNS lookup failed/);
    // Through the gate runner the cause reaches the check result a person reads.
    const results: CheckResult[] = [];
    const outcome = await runGate({ checks: [http({ url: `http://127.0.0.1:${port}/health`, consecutiveErrorLimit: 0 })] }, context({}), { gateName: 'smoke', mode: 'gate', onResult: (r) => results.push(r) });
    expect(outcome.verdict).toBe('fail');
    expect(results[0].message).toContain('connection refused');
    expect(outcome.reason).not.toContain('fetch failed');
  });

  it('goes through the test route with its headers when the provider has one', async () => {
    const m = await new HttpCheck('smoke', http({ path: '/health' })).measure(context({ testUrl: a.url, testHeaders: { 'x-canary': 'always' }, instanceUrls: [b.url] }));
    expect(m.verdict).toBe('pass');
    expect(m.query).toBe(`GET ${a.url}/health`);
    expect(a.seen.at(-1)?.headers['x-canary']).toBe('always');
    expect(b.seen).toHaveLength(0);
  });

  it('probes every instance without a test route, and fails naming the instance that answered badly', async () => {
    const ok = await new HttpCheck('smoke', http({ path: '/health' })).measure(context({ instanceUrls: [a.url, b.url] }));
    expect(ok.verdict).toBe('pass');
    expect(ok.message).toContain('on all 2 instances');
    const bad = await new HttpCheck('smoke', http({ path: '/broken' })).measure(context({ instanceUrls: [a.url, b.url] }));
    expect(bad.verdict).toBe('fail');
    expect(bad.message).toBe(`GET ${a.url}/broken answered 503, expected status 2xx (and 1 more of 2)`);
    expect(bad.observed).toEqual({ [`${a.url}/broken`]: 503, [`${b.url}/broken`]: 503 });
  });

  it('uses the service URL for target "service" and `url` over everything', async () => {
    const svc = await new HttpCheck('svc', http({ target: 'service', path: '/health' })).measure(context({ serviceUrl: b.url, testUrl: a.url }));
    expect(svc.query).toBe(`GET ${b.url}/health`);
    const direct = await new HttpCheck('direct', http({ url: `${a.url}/created` })).measure(context({ serviceUrl: b.url }));
    expect(direct).toMatchObject({ verdict: 'pass', query: `GET ${a.url}/created`, observed: { status: 201 } });
  });

  it('honours expectStatus and bodyIncludes', async () => {
    const ctx = context({ testUrl: a.url });
    expect((await new HttpCheck('c', http({ path: '/created', expectStatus: 200 })).measure(ctx)).verdict).toBe('fail');
    expect((await new HttpCheck('c', http({ path: '/broken', expectStatus: [503, 504] })).measure(ctx)).verdict).toBe('pass');
    const body = await new HttpCheck('c', http({ path: '/health', bodyIncludes: 'from b' })).measure(ctx);
    expect(body.verdict).toBe('fail');
    expect(body.message).toContain('body does not contain "from b"');
  });

  it('throws (an error, not a failure) when nothing answers or there is no way to reach the candidate', async () => {
    const closed = await backend('closed');
    await new Promise((r) => closed.server.close(r));
    await expect(new HttpCheck('c', http({})).measure(context({ testUrl: closed.url }))).rejects.toThrow();
    await expect(new HttpCheck('c', http({})).measure(context({}))).rejects.toThrow(/no way to reach candidate v2/);
  });

  it('runs through runGate by config with the name http#<index>', async () => {
    const results: CheckResult[] = [];
    const outcome = await runGate(
      { checks: [http({ path: '/health' }), http({ path: '/broken' })] },
      context({ testUrl: a.url }),
      { gateName: 'smoke', mode: 'gate', onResult: (r) => results.push(r) },
    );
    expect(outcome.verdict).toBe('fail');
    expect(outcome.reason).toBe(`check "http#1" failed: GET ${a.url}/broken answered 503, expected status 2xx`);
    expect(results.map((r) => r.check).sort()).toEqual(['http#0', 'http#1']);
  });

  it('joins base URLs and paths without doubling slashes', () => {
    expect(joinUrl('http://h:1/', '/health')).toBe('http://h:1/health');
    expect(joinUrl('http://h:1/base', 'health?x=1')).toBe('http://h:1/base/health?x=1');
    expect(joinUrl('http://h:1/base', '/')).toBe('http://h:1/base');
  });
});

describe('CommandCheck', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdd-cmd-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on exit 0 with the target URL and ZDD_* variables in its environment', async () => {
    const m = await new CommandCheck('smoke', { type: 'command', run: 'test "$ZDD_TARGET_URL" = "http://t:1" && test "$ZDD_REVISION" = v2 && test "$EXTRA" = yes' , env: { EXTRA: 'yes' } }).measure(
      context({ testUrl: 'http://t:1' }, { cwd: dir }),
    );
    expect(m.verdict).toBe('pass');
  });

  it('fails on a non-zero exit, naming the code and the last stderr lines', async () => {
    const m = await new CommandCheck('smoke', { type: 'command', run: ['sh', '-c', 'echo "checkout returned 500" >&2; exit 3'] }).measure(context({}, { cwd: dir }));
    expect(m).toMatchObject({ verdict: 'fail', observed: { exitCode: 3 } });
    expect(m.message).toBe('`sh -c echo "checkout returned 500" >&2; exit 3` exited with code 3: checkout returned 500');
  });

  it('throws when the command times out or cannot start (errors, not failures)', async () => {
    await expect(new CommandCheck('slow', { type: 'command', run: 'sleep 5', timeout: 200 }).measure(context({}, { cwd: dir }))).rejects.toThrow(/timed out after 200ms/);
    await expect(new CommandCheck('missing', { type: 'command', run: ['./no-such-binary'] }).measure(context({}, { cwd: dir }))).rejects.toThrow(/could not start/);
  });
});
