/**
 * zdd's public API: what a deploy.config.ts, a custom strategy or a custom provider imports.
 * Everything here is stable; internals are not exported.
 */
import type { ZddConfigInput } from './config/schema.js';

/** Typed helper for deploy.config.ts: returns its argument, gives editors the types. */
export function defineConfig(config: ZddConfigInput): ZddConfigInput {
  return config;
}

export type { ZddConfig, ZddConfigInput, GateConfig, CheckConfig, HookConfig } from './config/schema.js';
export type { Step, Plan, Role, RoleWeights, HookPoint, StepKind } from './core/plan.js';
export { describeStep, formatDuration, HOOK_POINTS } from './core/plan.js';
export type { Strategy, PlanInput, RollbackInput, RunWording } from './core/strategy.js';
export type {
  Provider,
  ProviderFactory,
  ProviderContext,
  ProviderCapabilities,
  ProviderSnapshot,
  Platform,
  TrafficRouter,
  RevisionSpec,
  RevisionEndpoints,
  RevisionState,
  RevisionTrafficSample,
  WeightMap,
  HealthWaitOptions,
  DrainFacts,
} from './core/provider.js';
export type { Check, CheckContext, CheckFactory, CheckResult, CheckThresholds, Measurement, Verdict } from './core/checks.js';
export type { DeploymentRecord, DeploymentStatus, StateStore, RecordStore, LockStore, LockLease, LockInfo, RequestKind, DeploymentRequest, DeploymentRequests } from './core/state.js';
export type { ZddEvent, ZddEventWithTime, EventSink } from './core/events.js';
export type { Clock } from './core/clock.js';
export { systemClock, FakeClock } from './core/clock.js';
export {
  ZddError,
  UsageError,
  ConfigError,
  LockHeldError,
  ProviderError,
  CheckFailedError,
  HookFailedError,
  TrafficMismatchError,
  InterruptedError,
} from './core/errors.js';
export { ExitCode } from './core/exit-codes.js';
export { parseDuration } from './core/duration.js';
export type { FlagStep } from './core/plan.js';
export type { FlagProvider, FlagState, FlagSetting, FlagConstraint } from './flags/flag-provider.js';
export { flagRampSteps, flagRestoreSteps, flagsOf, DEFAULT_RELEASE_STEPS, DEFAULT_RELEASE_PAUSE_MS } from './flags/flag-plan.js';
export { FLAG_RELEASE, flagReleaseWording } from './flags/flag-release.js';
/** Building blocks for a strategy's `optionsSchema` (zod), with zod's messages made readable. */
export { duration, intBetween, nonEmptyString, show as optionShow } from './config/schema-helpers.js';
/** The zod a strategy's `optionsSchema` is written with: zdd's own copy, so schemas compose. */
export { z } from 'zod';
