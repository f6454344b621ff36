import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { failedRequests, startLoad, type LoadRun } from '../helpers/load-generator.js';
import { explain, localProject, type LocalProject } from './e2e-project.js';
import { ROOT } from './local-fixture.js';

/** An app that answers HTTP with its revision and echoes WebSocket messages prefixed with it. */
const WS_APP = `import { createServer } from 'node:http';
import { WebSocketServer } from ${JSON.stringify(join(ROOT, 'node_modules/ws/wrapper.mjs'))};
const revision = process.env.ZDD_REVISION;
const server = createServer((req, res) => { res.setHeader('x-revision', revision); res.end(req.url === '/health' ? 'ok\\n' : revision + '\\n'); });
new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (m) => ws.send(revision + ':' + m)));
server.listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Echo {
  ws: WebSocket;
  ask(msg: string): Promise<string>;
  closed: Promise<number>;
}

function open(url: string, headers: Record<string, string> = {}): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const closed = new Promise<number>((r) => ws.once('close', () => r(Date.now())));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        closed,
        ask: (msg) =>
          new Promise((res, rej) => {
            ws.once('message', (d) => res(String(d)));
            ws.send(msg, (e) => e && rej(e));
          }),
      }),
    );
  });
}

/** WebSocket (HTTP Upgrade) through the local router, via the built binary, during a canary. */
describe('local router: WebSocket', { timeout: 120_000 }, () => {
  let p: LocalProject;
  let load: LoadRun | undefined;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    p = await localProject({ command: 'node ws-app.mjs', canarySteps: "[{ weight: 50, pause: '2s' }, { weight: 100 }]", replicas: 1 });
    writeFileSync(join(p.dir, 'ws-app.mjs'), WS_APP);
    const first = await p.run(['deploy', '--revision', 'v1']);
    expect(first.code, explain(first)).toBe(0);
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await load?.stop();
    await p?.cleanup();
  });

  it('upgrades go to the revision chosen by weight; a connection to the retired revision is closed only after the drain time', async () => {
    const wsUrl = `ws://127.0.0.1:${p.port}/`;
    const old = await open(wsUrl);
    sockets.push(old.ws);
    expect(await old.ask('hi')).toBe('v1:hi');

    load = startLoad({ url: p.url, concurrency: 2, ratePerClient: 50, maxDurationMs: 60_000, maxRequests: 20_000 });
    const deploy = p.start(['deploy', '--revision', 'v2', '--strategy', 'canary']);
    let retireAt = 0;
    let shiftedAt = 0;
    deploy.onEvent((e) => {
      if (e.type === 'step.start' && e.step.kind === 'retire') retireAt = Date.now();
    });
    await deploy.waitForEvent((e) => e.type === 'step.start' && e.step.kind === 'pause', 60_000);

    const during = await Promise.all(Array.from({ length: 20 }, () => open(wsUrl)));
    sockets.push(...during.map((d) => d.ws));
    const answers = await Promise.all(during.map((d, i) => d.ask(`m${i}`)));
    const by = { v1: answers.filter((a) => a.startsWith('v1:')).length, v2: answers.filter((a) => a.startsWith('v2:')).length };
    expect(by.v1 + by.v2).toBe(20);
    expect(by.v1, JSON.stringify(by)).toBeGreaterThan(0);
    expect(by.v2, JSON.stringify(by)).toBeGreaterThan(0);
    for (const d of during) d.ws.close();

    await deploy.waitForEvent((e) => e.type === 'step.done' && e.step.kind === 'shiftTraffic' && e.step.weights.candidate === 100, 60_000);
    shiftedAt = Date.now();
    // The old connection outlives the traffic switch: it still talks to v1.
    expect(await old.ask('still')).toBe('v1:still');

    const done = await deploy.done;
    expect(done.code, explain(done)).toBe(0);
    const closedAt = await old.closed;
    expect(retireAt, 'the retire step ran').toBeGreaterThan(0);
    expect(closedAt).toBeGreaterThan(shiftedAt);
    // drain is 1s in the project config: the connection held the drain for its full length.
    expect(closedAt - retireAt).toBeGreaterThanOrEqual(900);

    const fresh = await open(wsUrl);
    sockets.push(fresh.ws);
    expect(await fresh.ask('new')).toBe('v2:new');
    const r = await load.stop();
    load = undefined;
    expect(failedRequests(r), JSON.stringify({ kinds: r.connectionErrorKinds, status: r.byStatus })).toBe(0);
  });
});
