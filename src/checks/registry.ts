import type { z } from 'zod';
import type { CheckFactory } from '../core/checks.js';
import { commandCheckSchema, httpCheckSchema } from './http-check-schema.js';
import {
  CLOUDWATCH_ALARM_DEFAULT_INTERVAL_MS,
  CLOUDWATCH_DEFAULT_INTERVAL_MS,
  cloudwatchAlarmCheckSchema,
  cloudwatchCheckSchema,
  prometheusCheckSchema,
  routerCheckSchema,
} from './metrics/schemas.js';

/**
 * The one place that maps check types to schemas (loaded eagerly: zod only) and implementations
 * (loaded lazily, so the AWS SDK loads only when a CloudWatch check runs), with a check type's own
 * default interval where the general one (DEFAULT_THRESHOLDS) does not suit its source.
 */
export const CHECK_TYPES = {
  http: { schema: httpCheckSchema, load: () => import('./http-check.js').then((m) => m.httpCheck as CheckFactory<any>) },
  command: { schema: commandCheckSchema, load: () => import('./command-check.js').then((m) => m.commandCheck as CheckFactory<any>) },
  prometheus: { schema: prometheusCheckSchema, load: () => import('./metrics/prometheus-check.js').then((m) => m.prometheusCheck as CheckFactory<any>) },
  cloudwatch: {
    schema: cloudwatchCheckSchema,
    load: () => import('./metrics/cloudwatch-check.js').then((m) => m.cloudwatchCheck as CheckFactory<any>),
    defaultIntervalMs: CLOUDWATCH_DEFAULT_INTERVAL_MS,
  },
  'cloudwatch-alarm': {
    schema: cloudwatchAlarmCheckSchema,
    load: () => import('./metrics/cloudwatch-alarm-check.js').then((m) => m.cloudwatchAlarmCheck as CheckFactory<any>),
    defaultIntervalMs: CLOUDWATCH_ALARM_DEFAULT_INTERVAL_MS,
  },
  router: { schema: routerCheckSchema, load: () => import('./metrics/router-check.js').then((m) => m.routerCheck as CheckFactory<any>) },
} satisfies Record<string, { schema: z.ZodType; load: () => Promise<CheckFactory<any>>; defaultIntervalMs?: number }>;

export type CheckType = keyof typeof CHECK_TYPES;
