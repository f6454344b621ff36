import type { z } from 'zod';
import type { CheckFactory } from '../core/checks.js';
import { commandCheckSchema, httpCheckSchema } from './http-check-schema.js';
import { cloudwatchAlarmCheckSchema, cloudwatchCheckSchema, prometheusCheckSchema, routerCheckSchema } from './metrics/schemas.js';

/**
 * The one place that maps check types to schemas (loaded eagerly: zod only) and implementations
 * (loaded lazily, so the AWS SDK loads only when a CloudWatch check runs).
 */
export const CHECK_TYPES = {
  http: { schema: httpCheckSchema, load: () => import('./http-check.js').then((m) => m.httpCheck as CheckFactory<any>) },
  command: { schema: commandCheckSchema, load: () => import('./command-check.js').then((m) => m.commandCheck as CheckFactory<any>) },
  prometheus: { schema: prometheusCheckSchema, load: () => import('./metrics/prometheus-check.js').then((m) => m.prometheusCheck as CheckFactory<any>) },
  cloudwatch: { schema: cloudwatchCheckSchema, load: () => import('./metrics/cloudwatch-check.js').then((m) => m.cloudwatchCheck as CheckFactory<any>) },
  'cloudwatch-alarm': {
    schema: cloudwatchAlarmCheckSchema,
    load: () => import('./metrics/cloudwatch-alarm-check.js').then((m) => m.cloudwatchAlarmCheck as CheckFactory<any>),
  },
  router: { schema: routerCheckSchema, load: () => import('./metrics/router-check.js').then((m) => m.routerCheck as CheckFactory<any>) },
} satisfies Record<string, { schema: z.ZodType; load: () => Promise<CheckFactory<any>> }>;

export type CheckType = keyof typeof CHECK_TYPES;
