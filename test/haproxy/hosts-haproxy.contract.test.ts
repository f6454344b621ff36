import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/providers/local/processes.js';
import { describeProviderContract } from '../contract/provider-contract.js';
import { skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { EXAMPLE_APP } from '../local/local-fixture.js';
import { composedProvider } from './composed-provider.js';
import { HOSTS_PROVISION, HOSTS_RETIRE } from './haproxy-project.js';

// The shared contract, on instances started by the user's commands behind a real HAProxy.
if (!skipWithoutHaproxy()) {
  describeProviderContract('hosts + haproxy', async () => {
    const h = await startHaproxy();
    const dir = mkdtempSync(join(tmpdir(), 'zdd-hosts-contract-'));
    copyFileSync(EXAMPLE_APP, join(dir, 'app.mjs'));
    const provider = await composedProvider(dir, {
      type: 'hosts',
      hosts: ['127.0.0.1', '127.0.0.2'],
      ports: [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1')],
      provision: HOSTS_PROVISION,
      retire: HOSTS_RETIRE,
      health: { path: '/health', interval: 50 },
      router: { type: 'haproxy', runtimeApi: h.socket, backend: h.backend, url: h.url, testRoute: { map: h.map, backend: h.testBackend } },
    });
    return {
      provider,
      revision: (id) => ({ id }),
      async cleanup() {
        await provider.down?.().catch(() => undefined);
        await h.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
