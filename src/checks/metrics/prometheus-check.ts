import type { CheckFactory } from '../../core/checks.js';
import { ZddError } from '../../core/errors.js';

// Stub until implemented.
export const prometheusCheck: CheckFactory = {
  create() {
    throw new ZddError('not-implemented', 'check type not implemented yet');
  },
};
