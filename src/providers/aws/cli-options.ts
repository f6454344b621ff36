import type { ProviderCliOption } from '../provider-manifest.js';

/** `--region` and `--profile`: the AWS provider's own flags, on every command that reaches AWS. */
export const awsCliOptions: readonly ProviderCliOption[] = [
  { key: 'region', flags: '--region <region>', description: 'AWS region; overrides provider.region (default: AWS_REGION, then the profile\'s region)' },
  { key: 'profile', flags: '--profile <profile>', description: 'AWS named profile; overrides provider.profile (default: AWS_PROFILE, then the default credential chain)' },
];

/**
 * Region and profile for the SDK clients: a flag beats the config, which beats the SDK's own
 * chain (AWS_REGION, the profile). Undefined leaves the choice to the SDK.
 */
export function awsClientOptions(
  config: { region?: string; profile?: string } | undefined,
  flags: Record<string, string | undefined>,
): { region?: string; profile?: string } {
  return { region: flags.region ?? config?.region, profile: flags.profile ?? config?.profile };
}
