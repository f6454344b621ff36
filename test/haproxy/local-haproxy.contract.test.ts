import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeProviderContract } from '../contract/provider-contract.js';
import { skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { EXAMPLE_APP } from '../local/local-fixture.js';
import { composedProvider } from './composed-provider.js';

// The shared contract, on the local platform's processes behind a real HAProxy (no zdd router process).
if (!skipWithoutHaproxy()) {
  describeProviderContract('local + haproxy', async () => {
    const h = await startHaproxy();
    const dir = mkdtempSync(join(tmpdir(), 'zdd-local-haproxy-contract-'));
    copyFileSync(EXAMPLE_APP, join(dir, 'app.mjs'));
    const provider = await composedProvider(dir, {
      type: 'local',
      command: ['node', 'app.mjs'],
      health: { path: '/health', interval: 50 },
      stopGrace: 2_000,
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
