import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { prepareAwsSdk } from '../../aws/sdk-notice.js';

/** The one call a CloudWatch check makes: `client.send(command)`. Tests inject a client pointed at moto. */
export type CloudWatchSender = Pick<CloudWatchClient, 'send'>;

/** The SDK module, loaded on first use so that zdd without CloudWatch checks never loads it. */
export type CloudWatchSdk = typeof import('@aws-sdk/client-cloudwatch');

export async function loadCloudWatchSdk(): Promise<CloudWatchSdk> {
  prepareAwsSdk();
  return import('@aws-sdk/client-cloudwatch');
}

/**
 * A client with the default credential chain and adaptive retry (throttling backs off), like the
 * AWS provider's. The endpoint comes from AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_CLOUDWATCH), which
 * SDK v3 reads by itself; the region from config, else AWS_REGION / the profile.
 */
export async function createCloudWatchClient(region: string | undefined): Promise<CloudWatchSender> {
  const sdk = await loadCloudWatchSdk();
  return new sdk.CloudWatchClient({ region, retryMode: 'adaptive' });
}
