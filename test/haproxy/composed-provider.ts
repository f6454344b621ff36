import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import type { Provider } from '../../src/core/provider.js';
import { providerSchema } from '../../src/config/schema.js';
import { PROVIDER_TYPES } from '../../src/providers/registry.js';

/** The provider `zdd` builds from this `provider` block (validated by the config schema, composed by the registry), state under `dir/.zdd`. */
export async function composedProvider(dir: string, block: Record<string, unknown>): Promise<Provider> {
  const config = providerSchema.parse(block) as { type: keyof typeof PROVIDER_TYPES };
  const factory = await PROVIDER_TYPES[config.type].load();
  return factory.create(config as never, { service: 'web', configDir: dir, stateDir: join(dir, '.zdd'), env: undefined, clock: systemClock, events: new EventBus(), options: {} });
}
