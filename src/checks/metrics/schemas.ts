import { z } from 'zod';
import { nonEmptyString } from '../../config/schema-helpers.js';
import { thresholdFields } from '../threshold-schema.js';

// Placeholder shapes; the metric analysis work (issue 5) owns and completes these.

export const prometheusCheckSchema = z.strictObject({
  type: z.literal('prometheus'),
  ...thresholdFields,
  address: z.url(),
  query: nonEmptyString(),
});

export const cloudwatchCheckSchema = z.strictObject({
  type: z.literal('cloudwatch'),
  ...thresholdFields,
});

export const cloudwatchAlarmCheckSchema = z.strictObject({
  type: z.literal('cloudwatch-alarm'),
  ...thresholdFields,
  alarms: z.array(nonEmptyString()).min(1),
});

export const routerCheckSchema = z.strictObject({
  type: z.literal('router'),
  ...thresholdFields,
});
