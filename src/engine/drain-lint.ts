import { formatDuration, type Step } from '../core/plan.js';
import type { DrainFacts } from '../core/provider.js';

/**
 * Drains that match the platform: zdd's own numbers (drain, bakes, keepPrevious) against what the
 * platform itself waits (deregistration delay, stop timeout, grace period, stickiness). Pure: the
 * facts come from the provider, the settings from the config and the plan.
 */

/** `note`: costs time, not requests. `warn`: requests can be lost or a promise weakened. `refuse`: the numbers cut requests; deploy stops before any change. */
export type DrainSeverity = 'note' | 'warn' | 'refuse';

/** One bad combination: what is wrong with the numbers, and which setting to set to what. */
export interface DrainFinding {
  rule: string;
  severity: DrainSeverity;
  message: string;
  fix: string;
}

/** zdd's side of the comparison. */
export interface DrainSettings {
  /** Config `drain` (default 5s). */
  drainMs: number;
  /** The longest timed bake in the plan (0 when none). */
  longestBakeMs: number;
  /** How long the plan keeps the previous stable after it ends (blue-green keepPrevious); undefined when it retires it at once. */
  keepPreviousMs?: number;
  /** The plan shrinks a revision that still takes traffic (rolling batches). */
  scalesUnderTraffic: boolean;
}

/** The existing stickiness threshold, used when the plan has no bake to compare with. */
const STICKINESS_WITHOUT_BAKE_S = 300;
/** A deregistration delay this many times what requests need (and at least a minute over) is a note. */
const LONG_DELAY_FACTOR = 2;
const LONG_DELAY_MARGIN_S = 60;
/** Fargate's ceiling for stopTimeout. */
const MAX_STOP_TIMEOUT_S = 120;
/** The usual preStop sleep: a few seconds for kube-proxy, ingress controllers and meshes to drop the pod. */
const PRESTOP_SLEEP_S = 5;

/** The settings a plan implies: its bakes, whether it keeps the previous stable, whether it shrinks a serving revision. */
export function drainSettings(drainMs: number, steps: Step[]): DrainSettings {
  const bakes = steps.flatMap((s) => (s.kind === 'pause' && s.durationMs ? [s.durationMs] : []));
  const keep = steps.find((s) => s.kind === 'retire' && s.role === 'stable' && s.afterMs);
  return {
    drainMs,
    longestBakeMs: bakes.length ? Math.max(...bakes) : 0,
    ...(keep?.kind === 'retire' && keep.afterMs ? { keepPreviousMs: keep.afterMs } : {}),
    scalesUnderTraffic: steps.some((s) => s.kind === 'scale'),
  };
}

/** Every bad combination of `facts` and `settings`, refusals first. */
export function lintDrains(facts: DrainFacts, settings: DrainSettings): DrainFinding[] {
  const findings = [
    ...deregistrationRules(facts, settings),
    ...stopTimeoutRules(facts),
    ...podRules(facts, settings),
    ...stickinessRules(facts, settings),
    ...keepPreviousRules(settings),
  ];
  const order: Record<DrainSeverity, number> = { refuse: 0, warn: 1, note: 2 };
  return findings.sort((a, b) => order[a.severity] - order[b.severity]);
}

/** One line for plan notes and warnings. */
export function describeDrainFinding(f: DrainFinding): string {
  return `${f.message}. Fix: ${f.fix}`;
}

const sec = (s: number) => (s === 0 ? '0s' : formatDuration(s * 1000));
const cfgDuration = (s: number) => `"${sec(s)}"`;
const names = (xs: string[]) => xs.join(', ');

function deregistrationRules(facts: DrainFacts, st: DrainSettings): DrainFinding[] {
  const delays = facts.deregistrationDelays ?? [];
  if (!delays.length) return [];
  const out: DrainFinding[] = [];
  const drain = st.drainMs / 1000;
  const longest = facts.idleTimeout?.seconds;
  const idle = facts.idleTimeout ? `load balancer ${facts.idleTimeout.loadBalancer}'s idle timeout` : '';
  // Groups with the same delay share one finding.
  const byDelay = new Map<number, string[]>();
  for (const d of delays) byDelay.set(d.seconds, [...(byDelay.get(d.seconds) ?? []), d.targetGroup]);
  for (const [delay, groups] of byDelay) {
    const where = `target group${groups.length > 1 ? 's' : ''} ${names(groups)}`;
    const setDelay = (v: number) => `set deregistration_delay.timeout_seconds to ${v} on ${where} (aws elbv2 modify-target-group-attributes --attributes Key=deregistration_delay.timeout_seconds,Value=${v})`;
    if (longest !== undefined && drain + delay < longest) {
      out.push({
        rule: 'deregistration-cuts-requests',
        severity: 'refuse',
        message: `A request may run ${sec(longest)} (${idle}), but a retired revision keeps its in-flight requests only ${sec(drain)} (drain) + ${sec(delay)} (deregistration delay of ${where}) = ${sec(drain + delay)}: longer requests are cut when its tasks stop`,
        fix: `${setDelay(Math.ceil(longest - drain))} or more, or lower the load balancer's idle_timeout.timeout_seconds to ${Math.floor(drain + delay)} if no request needs longer`,
      });
    }
    const needed = Math.max(drain, longest ?? 0);
    if (longest !== undefined && delay > LONG_DELAY_FACTOR * needed && delay - needed >= LONG_DELAY_MARGIN_S) {
      // Long delays cost time, not requests: say so, and do not also ask for an equally long drain.
      out.push({
        rule: 'deregistration-delay-long',
        severity: 'note',
        message: `${where[0].toUpperCase()}${where.slice(1)} drain${groups.length > 1 ? '' : 's'} ${sec(delay)} (deregistration delay) before ECS stops a task, though no request may run longer than ${sec(longest)} (${idle}): every retire and scale-in keeps old tasks ${sec(delay - needed)} longer than needed`,
        fix: `${setDelay(Math.ceil(needed))}, and set drain: ${cfgDuration(Math.ceil(needed))} in the config`,
      });
    } else if (drain < delay) {
      out.push({
        rule: 'drain-shorter-than-deregistration',
        severity: 'warn',
        message: `drain ${sec(drain)} is shorter than the deregistration delay of ${where} (${sec(delay)}): zdd counts a revision drained and stops it after ${sec(drain)}, while the load balancer still gives it requests for ${sec(delay)}`,
        fix: `set drain: ${cfgDuration(delay)} in the config, or ${setDelay(Math.ceil(drain))} if no request runs longer than ${sec(drain)}`,
      });
    }
  }
  return out;
}

function stopTimeoutRules(facts: DrainFacts): DrainFinding[] {
  const longest = facts.idleTimeout?.seconds;
  if (longest === undefined) return [];
  const idle = `load balancer ${facts.idleTimeout!.loadBalancer}'s idle timeout`;
  return (facts.stopTimeouts ?? [])
    .filter((c) => c.seconds < longest)
    .map((c) => ({
      rule: 'stop-timeout-short',
      severity: 'warn' as const,
      message: `Container ${c.container} of ${c.taskDefinition} gets SIGKILL ${sec(c.seconds)} after SIGTERM (stopTimeout${c.defaulted ? ' unset: the ECS default' : ''}), shorter than the ${sec(longest)} a request may run (${idle}): a request still running when ECS stops the task is cut`,
      fix:
        longest <= MAX_STOP_TIMEOUT_S
          ? `set "stopTimeout": ${longest} on container ${c.container} in the task definition`
          : `lower the load balancer's idle_timeout.timeout_seconds to ${MAX_STOP_TIMEOUT_S} or less and set "stopTimeout" on container ${c.container} to the same (Fargate allows at most ${MAX_STOP_TIMEOUT_S})`,
    }));
}

function podRules(facts: DrainFacts, st: DrainSettings): DrainFinding[] {
  const pods = facts.pods;
  if (!pods) return [];
  const out: DrainFinding[] = [];
  const drain = st.drainMs / 1000;
  const grace = pods.terminationGracePeriodSeconds;
  const graceSaid = `terminationGracePeriodSeconds ${grace}${pods.defaulted ? ' (unset: the default)' : ''} of Deployment ${pods.deployment}`;
  const setGrace = (v: number) => `set spec.template.spec.terminationGracePeriodSeconds: ${v} on Deployment ${pods.deployment}`;
  const withHook = pods.containers.filter((c) => c.preStop !== 'none');
  for (const c of withHook) {
    const sleep = c.sleepSeconds;
    if (sleep !== undefined && sleep >= grace) {
      out.push({
        rule: 'prestop-outlives-grace',
        severity: 'refuse',
        message: `The preStop sleep of container ${c.name} (${sec(sleep)}) is not shorter than ${graceSaid}: the kubelet kills the pod before the sleep ends, so in-flight requests are cut`,
        fix: setGrace(Math.ceil(sleep + drain)),
      });
    } else if ((sleep ?? 0) + drain > grace) {
      out.push({
        rule: 'grace-shorter-than-prestop-and-drain',
        severity: 'warn',
        message: `${sleep !== undefined ? `preStop sleep ${sec(sleep)} of container ${c.name} + drain ${sec(drain)}` : `drain ${sec(drain)}`} is longer than ${graceSaid}: the app gets SIGKILL before its in-flight requests have had the drain time`,
        fix: setGrace(Math.ceil((sleep ?? 0) + drain)),
      });
    }
  }
  if (!withHook.length) {
    const first = pods.containers[0]?.name ?? 'the app container';
    out.push({
      rule: 'no-prestop',
      // Only a pod removed while its revision takes traffic (a rolling batch) meets the race.
      severity: st.scalesUnderTraffic ? 'warn' : 'note',
      message: `No container of Deployment ${pods.deployment} has a preStop hook: a pod gets SIGTERM while kube-proxy, ingress controllers and meshes are still removing it from the endpoints, so it can get new requests after it began shutting down${st.scalesUnderTraffic ? ' (this plan removes pods from a revision that takes traffic)' : ''}`,
      fix: `add lifecycle: { preStop: { sleep: { seconds: ${PRESTOP_SLEEP_S} } } } to container ${first} (Kubernetes 1.30+; before that exec: { command: ["sleep", "${PRESTOP_SLEEP_S}"] })${PRESTOP_SLEEP_S + drain > grace ? ` and ${setGrace(Math.ceil(PRESTOP_SLEEP_S + drain))}` : ''}`,
    });
    if (drain > grace) {
      out.push({
        rule: 'grace-shorter-than-prestop-and-drain',
        severity: 'warn',
        message: `drain ${sec(drain)} is longer than ${graceSaid}: the app gets SIGKILL before its in-flight requests have had the drain time`,
        fix: setGrace(Math.ceil(PRESTOP_SLEEP_S + drain)),
      });
    }
  }
  return out;
}

function stickinessRules(facts: DrainFacts, st: DrainSettings): DrainFinding[] {
  const sticky = facts.stickiness;
  if (!sticky) return [];
  const limit = st.longestBakeMs > 0 ? st.longestBakeMs / 1000 : STICKINESS_WITHOUT_BAKE_S;
  if (sticky.seconds <= limit) return [];
  return [
    {
      rule: 'stickiness-longer-than-bake',
      severity: 'warn',
      message: `Target group stickiness is on for ${sticky.seconds}s: clients with the cookie stay on their slot whatever the weights say, longer than ${st.longestBakeMs > 0 ? `the ${sec(limit)} bake` : `${sec(limit)}`}, so canary percentages are approximate and a rollback reaches them only after the cookie expires`,
      fix: `set TargetGroupStickinessConfig.DurationSeconds of the production forward action to ${Math.floor(limit)} or less, or turn stickiness off`,
    },
  ];
}

function keepPreviousRules(st: DrainSettings): DrainFinding[] {
  if (st.keepPreviousMs === undefined || st.keepPreviousMs >= st.longestBakeMs) return [];
  return [
    {
      rule: 'keep-previous-shorter-than-bake',
      severity: 'warn',
      message: `keepPrevious ${formatDuration(st.keepPreviousMs)} is shorter than the ${formatDuration(st.longestBakeMs)} bake: a fault that takes as long to show as the bake allows finds the previous revision already stopped, and rollback is no longer one router call`,
      fix: `set strategies.blue-green.keepPrevious: "${formatDuration(st.longestBakeMs)}" or more`,
    },
  ];
}
