import { z } from 'zod';
import { duration, intBetween, nonEmptyString } from '../config/schema-helpers.js';

/**
 * Fields every check shares: how often it measures and when it decides. Spread into each check
 * type's schema so the threshold model is the same everywhere.
 */
export const thresholdFields = {
  name: nonEmptyString('Name shown in output; defaults to the check type and its index').optional(),
  interval: duration('Time between measurements (default 5s; 1m for cloudwatch, 30s for cloudwatch-alarm)').optional(),
  count: intBetween(1, 10_000, 'Measurements to take; default 1 in a gate, the whole bake during analysis').optional(),
  failureLimit: intBetween(0, 10_000, 'Failed measurements tolerated before the check fails (default 0)').optional(),
  consecutiveErrorLimit: intBetween(0, 10_000, 'Consecutive errors (probe could not measure) tolerated (default 4)').optional(),
  inconclusiveLimit: intBetween(0, 10_000, 'Inconclusive measurements tolerated before the check fails (default 0 in a gate; no limit during a bake)').optional(),
  timeout: duration('Timeout of one measurement (default 10s)').optional(),
};

export const DEFAULT_THRESHOLDS = {
  intervalMs: 5_000,
  failureLimit: 0,
  consecutiveErrorLimit: 4,
  timeoutMs: 10_000,
} as const;

/** The threshold fields of any check config, after parsing (durations in ms). */
export type ThresholdConfig = z.output<z.ZodObject<typeof thresholdFields>>;
