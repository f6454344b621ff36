import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { FlagProvider } from './flag-provider.js';
import type { FlagsConfig } from './schema.js';

/**
 * The one place that maps `flags.provider` to an implementation. LaunchDarkly, ConfigCat or Split
 * would be one more case here and one more file beside unleash-flags.ts (see docs/flags.md).
 */
export async function createFlagProvider(config: FlagsConfig | undefined, ctx: { configDir: string; env?: NodeJS.ProcessEnv }): Promise<FlagProvider> {
  if (!config) {
    throw new UsageError('No flag service configured: the config has no `flags` section', 'Add flags: { provider: "unleash", url: "…", environment: "production" } (see docs/flags.md).');
  }
  switch (config.provider) {
    case 'unleash': {
      const { UnleashFlagProvider } = await import('./unleash-flags.js');
      return new UnleashFlagProvider(config, ctx.env ?? process.env);
    }
    case 'openfeature-file': {
      const { OpenFeatureFileFlagProvider } = await import('./openfeature-file-flags.js');
      return new OpenFeatureFileFlagProvider(isAbsolute(config.path) ? config.path : resolve(ctx.configDir, config.path));
    }
  }
}
