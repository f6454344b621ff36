import { AwsProvider } from '../../src/providers/aws/aws-provider.js';
import { describeProviderContract } from '../contract/provider-contract.js';
import { skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { stackConfig, testContext } from './aws-context.js';
import { createMotoStack, createTargetBridge, motoClients } from './moto-stack.js';

// The shared contract, on ECS + ALB as moto emulates them, through the real SDK clients.
if (!skipWithoutMoto()) {
  const moto = useMoto();
  describeProviderContract('aws (moto)', async () => {
    await moto.reset();
    const clients = motoClients(moto);
    const stack = await createMotoStack(moto, clients, { empty: true });
    const bridge = createTargetBridge(clients, stack);
    const providerClients = motoClients(moto);
    bridge.attach(providerClients.ecs);
    const provider = new AwsProvider(stackConfig(), testContext(), { clients: providerClients });
    return {
      provider,
      revision: (id) => ({ id, image: `repo/web:${id}` }),
      async cleanup() {
        await bridge.stop();
        clients.destroy();
      },
    };
  });
}
