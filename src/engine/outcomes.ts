import type { DoneResult } from '../core/events.js';
import { ExitCode, type ExitCodeValue } from '../core/exit-codes.js';
import { ZddError, errorMessage, type LockLostError } from '../core/errors.js';
import type { RevisionSpec } from '../core/provider.js';
import type { DeploymentRecord } from '../core/state.js';
import type { RunWording, Strategy } from '../core/strategy.js';
import type { CurrentState } from './planning.js';
import { describeWeights } from './deployment-record.js';
import { leftBehind } from './steps/index.js';

/** How a command ended: what the CLI prints last and exits with. */
export interface Outcome {
  result: DoneResult;
  exitCode: ExitCodeValue;
  message: string;
  hint?: string;
  record?: DeploymentRecord;
}

export function nothingToDo(message: string, hint?: string): Outcome {
  return { result: 'nothing-to-do', exitCode: ExitCode.Ok, message, hint };
}

/** ` Flag "x": off (rollout 20% kept) (read back).` for each thing the run changed that traffic does not show (flags). */
function leftNow(record: DeploymentRecord): string {
  return leftBehind(record)
    .map((l) => ` ${capital(l.noun)} ${l.name}: ${l.now ?? 'unchanged'} (read back).`)
    .join('');
}

/** ` Flags as before the deploy (read back): flag "a" off, flag "b" on, 5%.`, one sentence per noun. */
function leftAsBefore(record: DeploymentRecord): string {
  const byNoun = new Map<string, string[]>();
  for (const l of leftBehind(record)) byNoun.set(l.noun, [...(byNoun.get(l.noun) ?? []), `${l.noun} ${l.name} ${l.now ?? 'unchanged'}`]);
  return [...byNoun].map(([noun, items]) => ` ${capital(noun)}s as before the deploy (read back): ${items.join(', ')}.`).join('');
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** How a deploy is spoken of: the defaults of every strategy's wording. */
const DEPLOY_WORDING: Required<RunWording> = {
  noun: 'Deploy',
  run: 'deploy',
  subject: (record) => `Deploy of ${record.candidate.id}`,
  succeeded: (record) => {
    const kept = record.kept ? ` Previous revision ${record.kept.revision.id} is kept until ${record.kept.retireAt} so \`zdd rollback\` stays instant.` : '';
    return `Deployed ${record.candidate.id}: it serves 100% of production.${kept}`;
  },
  whereAfterRollback: (record) => `Production is on stable ${record.stable?.id ?? '(none: first deploy removed)'}.${leftNow(record)}`,
  rolledBack: (record) => `Rolled back: production on stable ${record.stable?.id ?? '(none)'}.${leftAsBefore(record)}`,
  aborted: (record) => `Deploy ${record.id} aborted and rolled back: production on stable ${record.stable?.id ?? '(none)'}.`,
  rollbackRestores: (record) => `${record.stable?.id}`,
};

/** A strategy's wording, its gaps filled with a deploy's. */
export function wordingOf(strategy: Strategy | undefined): Required<RunWording> {
  return { ...DEPLOY_WORDING, ...strategy?.wording };
}

export function deploySucceeded(record: DeploymentRecord, wording = DEPLOY_WORDING): Outcome {
  return { result: 'succeeded', exitCode: ExitCode.Ok, message: wording.succeeded(record), record };
}

/**
 * --until-pause reached a manual pause: the record says "paused" at that step and the lock is
 * released (the paused record keeps other deploys out; \`promote\`/\`abort\` take the lock from any machine).
 */
export function stoppedAtPause(record: DeploymentRecord): Outcome {
  return {
    result: 'paused',
    exitCode: ExitCode.Paused,
    message: `Deploy ${record.id} of ${record.candidate.id} stopped at its manual pause (step ${record.stepIndex + 1} of ${record.plan.length}), ${describeWeights(record)}. Nothing runs until a person decides.`,
    hint: 'Run `zdd promote` (from any machine that shares the state) to continue from this checkpoint, or `zdd abort` to roll back. `zdd status` shows where it stands.',
    record,
  };
}

export function stoppedWithoutRollback(record: DeploymentRecord, reason: string, stepText: string): Outcome {
  return {
    result: 'failed',
    exitCode: ExitCode.NeedsPerson,
    message: `Deploy failed${stepText}: ${reason}\nRollback was disabled (--no-rollback): production is left at ${describeWeights(record)}.`,
    hint: 'Run `zdd rollback` to put all traffic on stable, or fix the problem and `zdd promote` to continue.',
    record,
  };
}

export function rolledBack(record: DeploymentRecord, reason: string, stepText: string, interrupted: boolean, wording = DEPLOY_WORDING): Outcome {
  const where = wording.whereAfterRollback(record);
  const subject = wording.subject(record);
  if (interrupted) return { result: 'interrupted', exitCode: ExitCode.Interrupted, message: `${subject} ${reason}${stepText}; rolled back. ${where}`, record };
  return {
    result: 'rolled-back',
    exitCode: ExitCode.RolledBack,
    message: `${subject} failed${stepText}: ${reason}\nRolled back. ${where}`,
    hint: record.error?.hint,
    record,
  };
}

export function rollbackFailed(record: DeploymentRecord): Outcome {
  return {
    result: 'rollback-failed',
    exitCode: ExitCode.NeedsPerson,
    message:
      `ROLLBACK FAILED for ${record.service} — production needs a person.\n` +
      `  last verified traffic: ${describeWeights(record)}\n` +
      `  instances: stable ${record.replicas.stable}, candidate ${record.replicas.candidate}${record.testRoute ? `; test route → ${record.testRoute}` : ''}\n` +
      leftBehind(record)
        .map((l) => `  ${l.noun} ${l.name}: last read back ${l.now ?? '(never written)'}; before the run ${l.before}\n`)
        .join('') +
      `  error: ${record.error?.message ?? 'unknown'}`,
    hint: 'Fix the cause (see the error), then run `zdd rollback` again: it resumes the rollback where it stopped. `zdd status` shows the record.',
    record,
  };
}

/** Traffic is back on stable (read back from the router), but no record says so: exit 4 with where production is. */
export function rollbackUnrecorded(record: DeploymentRecord, location: string, error: unknown): Outcome {
  const why = record.error ? `Deploy of ${record.candidate.id} failed: ${record.error.message}\n` : '';
  return {
    result: 'rollback-failed',
    exitCode: ExitCode.NeedsPerson,
    message:
      `${why}Production is back on stable ${record.stable?.id ?? '(none)'} (traffic read back from the router: ${describeWeights(record)}), ` +
      `but the deployment record could not be written to ${location}: ${errorMessage(storeCause(error))}. The record there is out of date.`,
    hint: 'Fix the state store, then run `zdd rollback`: it finds production on stable and finishes the record. `zdd status` shows the live traffic meanwhile.',
    record,
  };
}

export function unfinished(last: DeploymentRecord): Outcome {
  return {
    result: 'error',
    exitCode: ExitCode.NeedsPerson,
    message: `The last deploy (${last.id}, ${last.candidate.id}) did not finish: ${last.status} at step ${Math.min(last.stepIndex + 1, last.plan.length)} of ${last.plan.length}, ${describeWeights(last)}. Nothing was changed.`,
    hint: 'Run `zdd rollback` to put all traffic back on stable, or `zdd promote` to continue that deploy.',
    record: last,
  };
}

/** The lock was lost mid-run: this process stopped before its next change and did not roll back. */
export function lockLost(record: DeploymentRecord, e: LockLostError, takenOver: { record: DeploymentRecord } | null): Outcome {
  const other = takenOver?.record;
  const by = other ? `${other.by.who}@${other.by.host} (pid ${other.by.pid}${other.by.command ? `, zdd ${other.by.command}` : ''})` : '';
  const since = other
    ? other.id === record.id
      ? `\nThe deploy was taken over by ${by}: the record now says ${other.status}, ${describeWeights(other)}.`
      : `\nA newer run (${other.id}, ${other.candidate.id}) was started by ${by}: ${other.status}.`
    : `\nLast traffic this deploy verified: ${describeWeights(record)} (it may have changed since).`;
  const owner = other || e.holder ? 'whoever holds the lock now owns production' : 'nobody holds the lock now';
  return {
    result: 'error',
    exitCode: ExitCode.NeedsPerson,
    message: `${e.message}${since}\nDeploy ${record.id} (${record.candidate.id}) stopped without rolling back: ${owner}.`,
    hint: e.hint,
    record: other ?? record,
  };
}

/** The store's own error inside the engine's "could not write the record" wrapper. */
function storeCause(e: unknown): unknown {
  return e instanceof ZddError && e.code === 'state-store' && e.cause !== undefined ? e.cause : e;
}

/** A restore run's outcome in an operator's words: a failed restore is exit 4, production on the revision it left. */
export function restoreOutcome(record: DeploymentRecord, outcome: Outcome): Outcome {
  const from = record.stable?.id ?? '(none)';
  if (outcome.exitCode === ExitCode.Ok) {
    return { ...outcome, message: `Rolled back to ${record.candidate.id}: it serves 100% of production (${from} retired).` };
  }
  if (outcome.exitCode === ExitCode.RolledBack) {
    return { ...outcome, exitCode: ExitCode.NeedsPerson, message: `Could not roll back to ${record.candidate.id}; production stays on ${from}.\n${outcome.message}` };
  }
  return outcome;
}

/**
 * Deploying what already serves changes nothing. An image given by a tag may have moved since: zdd
 * cannot see digests through every provider, so it says what to do instead of guessing.
 */
export function sameAsServing(current: CurrentState, candidate: RevisionSpec): Outcome | null {
  const stable = current.stable?.revision;
  if (!stable || stable.id !== candidate.id) return null;
  const image = candidate.image ?? stable.image;
  const movable = image !== undefined && !image.includes('@');
  return nothingToDo(
    `Revision ${candidate.id}${image ? ` (image ${image})` : ''} already serves 100% of production; nothing was changed.`,
    movable
      ? `The same tag was deployed again. A tag can point at a new image: to roll that out, give it a new revision id (\`--revision <id> --image ${image}\`) or deploy it by digest (\`--image ${image.replace(/:[^:/]*$/, '')}@sha256:…\`).`
      : undefined,
  );
}
