import { z } from 'zod';
import { nonEmptyString } from '../config/schema-helpers.js';

export const fileStateSchema = z.strictObject({
  type: z.literal('file'),
  dir: nonEmptyString('Directory for records and the lock, relative to the config file (default ".zdd")').optional(),
});

/** Remote state next to the service, so `zdd rollback` works from any machine. Any provider may keep its state in S3: the bucket has its own region and profile. */
export const s3StateSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: nonEmptyString('Bucket holding records and the lock'),
  prefix: nonEmptyString('Key prefix (default "zdd/")').optional(),
  region: nonEmptyString('Region of the bucket (default: --region, the AWS provider\'s region, AWS_REGION, the profile\'s region)').optional(),
  profile: nonEmptyString('AWS named profile for the bucket (default: --profile, the AWS provider\'s profile, AWS_PROFILE, the default credential chain)').optional(),
});

/** Records as ConfigMaps and the lock as a Lease in the cluster, so `zdd rollback` works from any machine with cluster access. */
export const kubernetesStateSchema = z.strictObject({
  type: z.literal('kubernetes'),
  namespace: nonEmptyString('Namespace of the ConfigMaps and the Lease (default: the provider\'s namespace, else the context\'s)').optional(),
  kubeconfig: nonEmptyString('Kubeconfig file (default: the provider\'s, --kubeconfig, KUBECONFIG)').optional(),
  context: nonEmptyString('Kubeconfig context (default: the provider\'s, --context, the current one)').optional(),
});

export const stateSchema = z.discriminatedUnion('type', [fileStateSchema, s3StateSchema, kubernetesStateSchema], {
  error: (iss) => (iss.code === 'invalid_union' ? 'type must be "file", "s3" or "kubernetes"' : undefined),
});
