import type { ProviderFactory } from '../../core/provider.js';
import { ZddError } from '../../core/errors.js';

// Stub until implemented.
export const localProvider: ProviderFactory = {
  create() {
    throw new ZddError('not-implemented', 'provider not implemented yet');
  },
};
