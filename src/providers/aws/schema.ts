import { z } from 'zod';
import { nonEmptyString } from '../../config/schema-helpers.js';

// Placeholder shape; the AWS provider work (issue 4) owns and completes this file.
export const awsProviderSchema = z.strictObject({
  type: z.literal('aws'),
  region: nonEmptyString().optional(),
  cluster: nonEmptyString(),
});
export type AwsProviderConfig = z.output<typeof awsProviderSchema>;
