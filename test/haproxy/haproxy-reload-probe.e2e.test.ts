import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedRequests, startLoad } from '../helpers/load-generator.js';
import { skipWithoutHaproxy, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { explain } from '../local/e2e-project.js';
import { hostsProject, hostsProviderBlock, type HostsProject } from './haproxy-project.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

/**
 * The app of this test: the example app's answers, except that a request of zdd's observed-split
 * probe (its user-agent) first asks the test's trigger URL, which reloads HAProxy the first time it
 * is armed and answers once the new process serves. So the reload lands inside the probe, every
 * time: the probe's first requests wait at the app while HAProxy reloads, the old process answers
 * them and closes their connections, and the rest of the probe meets the new process.
 */
const probeApp = (trigger: string) => `import { createServer } from 'node:http';
const revision = process.env.ZDD_REVISION;
const server = createServer(async (req, res) => {
  res.setHeader('x-revision', revision);
  if (req.url === '/health') return res.end('ok\\n');
  if (req.headers['user-agent'] === 'zdd-observed-split') await fetch(${JSON.stringify(trigger)}).then((r) => r.text()).catch(() => undefined);
  res.end(revision + '\\n');
});
server.keepAliveTimeout = 70_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.once('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 5_000).unref(); });
`;

/**
 * An HAProxy reload during the observed-split probe, behind the built binary under keep-alive load.
 * No server-state-file: the new process starts without zdd's weights and answers 503 until zdd
 * writes them again. The router's reload watch looks only every 30s here, so the repair this test
 * sees is the engine's own (the probe's confirmation reads the weights back and writes them again);
 * the watch's repair during a probe is the router test's (test/haproxy/haproxy-router-probe.test.ts).
 */
describe.skipIf(skipWithoutHaproxy())('hosts + haproxy: a reload during the observed-split probe (built binary)', { timeout: 120_000 }, () => {
  let h: Haproxy;
  let p: HostsProject;
  let trigger: Server;
  let armed = false;
  let reloads = 0;
  let reloading: Promise<void> | undefined;

  beforeAll(async () => {
    h = await startHaproxy({ serverStateFile: false });
    trigger = createServer((_req, res) => {
      if (armed && !reloading) {
        reloads++;
        reloading = h.reload();
      }
      void (reloading ?? Promise.resolve()).then(() => res.end('ok'), (e) => res.writeHead(500).end(String(e)));
    });
    await new Promise<void>((r) => trigger.listen(0, '127.0.0.1', r));
    const home = mkdtempSync(join(tmpdir(), 'zdd-hosts-home-'));
    // Long watch ticks: only the engine repairs within this deploy (see above).
    const provider = (await hostsProviderBlock(h, home)).replace("watchInterval: '200ms'", "watchInterval: '30s'");
    expect(provider).toContain("watchInterval: '30s'");
    p = await hostsProject(h, { home, provider, canarySteps: "[{ weight: 30, pause: '1s' }, { weight: 100 }]" });
    writeFileSync(join(home, 'app.mjs'), probeApp(`http://127.0.0.1:${(trigger.address() as AddressInfo).port}/`));
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    await p?.cleanup();
    await h?.stop();
    trigger?.close();
  });

  it('the first probe meets the gap, the weights are read back (lost), written again and a second probe agrees: the canary finishes and the log names the re-probe', async () => {
    const load = startLoad({ url: p.url, concurrency: 4, ratePerClient: 150, maxDurationMs: 60_000 });
    const pidBefore = h.pid();
    armed = true;
    const r = await p.run(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    const total = await load.stop();
    expect(r.code, explain(r)).toBe(0);
    expect(reloads).toBe(1);
    expect(h.pid()).not.toBe(pidBefore);

    const reprobed = r.events.filter((e) => e.type === 'warn' && /^Observed split at /.test(e.message)).map((e) => e.message as string);
    expect(reprobed, JSON.stringify(r.events.filter((e) => e.type === 'warn'), null, 1)).toHaveLength(1);
    const [note] = reprobed;
    console.log(`re-probe: ${note}`);
    expect(note).toMatch(/the first probe saw .*of 100 answers.*\d+ without x-zdd-server/);
    expect(note).toMatch(/HAProxy reloaded during the probe \(pid \d+ → \d+\)/);
    expect(note).toMatch(/the router had lost zdd's weights \(it held no weight on any revision\); zdd wrote v\d 70% \| v2 30% again/);
    expect(note).toMatch(/a second probe agreed: .*v2 \d+ \(set 30%\).* of 100 answers$/);
    // The second shift (100%) is judged at the first probe, as before.
    expect(r.events.filter((e) => e.type === 'info' && /^Observed split at .*v2 100 \(set 100%\) of 100 answers$/.test(e.message))).toHaveLength(1);

    const status = await p.run(['status']);
    expect(status.events.find((e) => e.type === 'status')?.live?.weights).toEqual({ v2: 100 });
    // What the other reload tests count: no connection error; the only failures are HAProxy's own
    // 503s of the gap (no weights until zdd wrote them again), none from the app.
    console.log(`load over the deploy: ${total.requests} requests, ${failedRequests(total)} failed (503 from HAProxy: ${total.byStatus[503] ?? 0}, connection errors: ${total.connectionErrors})`);
    expect(total.connectionErrors).toBe(0);
    expect(failedRequests(total)).toBe(total.byStatus[503] ?? 0);
    expect(total.byRevision.v2).toBeGreaterThan(0);
  });
});
