import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ProviderError } from '../../core/errors.js';
import { toProviderError } from '../../aws/aws-errors.js';
import { prepareAwsSdk } from '../../aws/sdk-notice.js';

/** The SDK clients the provider talks through; tests inject their own (mocked or pointed at moto). */
export interface AwsClients {
  ecs: ECSClient;
  elb: ElasticLoadBalancingV2Client;
}

/**
 * Clients with the default credential chain, `region`/`profile` when given, and adaptive retry so
 * throttling backs off instead of failing. The endpoint comes from AWS_ENDPOINT_URL (or
 * AWS_ENDPOINT_URL_ECS / _ELASTIC_LOAD_BALANCING_V2), which SDK v3 reads by itself.
 */
export function createAwsClients(opts: { region?: string; profile?: string }): AwsClients {
  prepareAwsSdk();
  const common = { region: opts.region, profile: opts.profile, retryMode: 'adaptive' as const };
  return { ecs: new ECSClient(common), elb: new ElasticLoadBalancingV2Client(common) };
}

/** A command as every SDK v3 client takes it. */
type AnyCommand = { input: unknown; constructor: { name: string } };
type Sender = { send(command: never): Promise<unknown> };

/**
 * Every AWS call goes through here: one place that names the IAM action in errors and says
 * whether the call could have changed production.
 */
export async function awsCall<T>(client: Sender, iamService: 'ecs' | 'elasticloadbalancing', command: AnyCommand, resource: string): Promise<T> {
  const op = command.constructor.name.replace(/Command$/, '');
  const changed = !/^(Describe|List|Get)/.test(op);
  try {
    return (await client.send(command as never)) as T;
  } catch (e) {
    if (e instanceof ProviderError) throw e;
    throw toProviderError(e, { action: `${iamService}:${op}`, resource, changed });
  }
}
