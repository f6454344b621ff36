import { describeProviderContract } from '../contract/provider-contract.js';
import { localFixture } from './local-fixture.js';

// The shared contract, on real processes behind the real router.
describeProviderContract('local + local', async () => {
  const f = await localFixture();
  return { provider: f.provider, revision: (id) => ({ id }), cleanup: () => f.cleanup() };
});
