import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeProvider } from '../fake/fake-provider.js';
import { describeProviderContract } from './provider-contract.js';

describeProviderContract('fake', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zdd-fake-'));
  return {
    provider: createFakeProvider({ stateFile: join(dir, 'fake.json') }),
    revision: (id) => ({ id }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
