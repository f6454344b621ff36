import { describe, expect, it } from 'vitest';
import { AwsProvider } from '../../src/providers/aws/aws-provider.js';
import { skipWithoutMoto, useMoto } from '../helpers/moto.js';
import { stackConfig, testContext } from './aws-context.js';
import { createMotoStack, createTargetBridge, motoClients } from './moto-stack.js';

// Metric checks find a revision's target group through endpoints(): the slot alternates per deploy.
describe.skipIf(skipWithoutMoto())('AWS endpoints for checks', () => {
  const moto = useMoto();

  it('name the target group of the slot a revision runs in, and the load balancer', async () => {
    const clients = motoClients(moto);
    const stack = await createMotoStack(moto, clients, { empty: true });
    const bridge = createTargetBridge(clients, stack);
    const providerClients = motoClients(moto);
    bridge.attach(providerClients.ecs);
    const provider = new AwsProvider(stackConfig(), testContext(), { clients: providerClients });
    try {
      await provider.platform.provision({ id: 'v1', image: 'repo/web:v1' }, 1);
      await provider.router.setWeights({ v1: 100 });
      await provider.platform.provision({ id: 'v2', image: 'repo/web:v2' }, 1);
      const e1 = await provider.platform.endpoints('v1');
      const e2 = await provider.platform.endpoints('v2');
      expect(stack.targetGroupArns).toContain(e1.metricDimensions?.alb?.targetGroupArn);
      expect(stack.targetGroupArns).toContain(e2.metricDimensions?.alb?.targetGroupArn);
      expect(e1.metricDimensions?.alb?.targetGroupArn).not.toBe(e2.metricDimensions?.alb?.targetGroupArn);
      expect(e2.metricDimensions?.alb?.loadBalancerArn).toMatch(/^arn:aws:elasticloadbalancing:.*:loadbalancer\/app\//);
      expect(e2.metricDimensions?.alb?.region).toBe('us-east-1');
    } finally {
      await provider.close?.();
      await bridge.stop();
      clients.destroy();
    }
  });
});
