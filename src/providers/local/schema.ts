import { z } from 'zod';
import { duration, intBetween, nonEmptyString } from '../../config/schema-helpers.js';

// Placeholder shape; the local provider work (issue 3) owns and completes this file.
export const localProviderSchema = z.strictObject({
  type: z.literal('local'),
  command: z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)]),
  port: intBetween(1, 65535).optional(),
  healthPath: nonEmptyString().optional(),
  drain: duration().optional(),
});
export type LocalProviderConfig = z.output<typeof localProviderSchema>;
