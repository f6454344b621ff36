import {
  DescribeLoadBalancerAttributesCommand,
  DescribeTargetGroupAttributesCommand,
  type Action,
  type LoadBalancerAttribute,
  type TargetGroupAttribute,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import type { DrainFacts } from '../../core/provider.js';
import { awsCall } from './aws-clients.js';
import type { AwsSlots } from './aws-slots.js';
import { stableView } from './ecs-platform.js';

/** ECS sends SIGKILL this long after SIGTERM when a container sets no stopTimeout. */
export const ECS_DEFAULT_STOP_TIMEOUT_S = 30;

/**
 * What AWS itself waits around a stop: each slot's deregistration delay, the load balancer's idle
 * timeout, the stop timeout of the essential containers of the serving task definition (candidates
 * are copies of it), and the production forward action's stickiness when zdd does not drive it.
 */
export async function awsDrainFacts(slots: AwsSlots): Promise<DrainFacts> {
  const r = await slots.resolve();
  // The snapshot preflight just read is fresh enough for settings nobody changes mid-deploy.
  const snap = await slots.current();
  const elb = slots.clients.elb;
  const deregistrationDelays = [];
  for (const ref of r.slots) {
    const res = await awsCall<{ Attributes?: TargetGroupAttribute[] }>(elb, 'elasticloadbalancing', new DescribeTargetGroupAttributesCommand({ TargetGroupArn: ref.targetGroupArn }), `target group ${ref.targetGroupName}`);
    const seconds = attribute(res.Attributes, 'deregistration_delay.timeout_seconds');
    if (seconds !== undefined) deregistrationDelays.push({ targetGroup: ref.targetGroupName, seconds });
  }
  const lb = await awsCall<{ Attributes?: LoadBalancerAttribute[] }>(elb, 'elasticloadbalancing', new DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: r.loadBalancerArn }), `load balancer ${r.loadBalancerArn}`);
  const idle = attribute(lb.Attributes, 'idle_timeout.timeout_seconds');
  const serving = stableView(snap.views) ?? snap.views.find((v) => v.service.taskDefinition);
  const td = serving?.service.taskDefinition ? await slots.taskDefinition(serving.service.taskDefinition) : undefined;
  // With provider.stickiness zdd drives it and turns it off whenever one revision holds 100% (promote, rollback): no fact to lint.
  const stickiness = slots.config.stickiness === undefined ? forwardStickiness(snap.actions) : undefined;
  return {
    ...(deregistrationDelays.length ? { deregistrationDelays } : {}),
    ...(idle !== undefined ? { idleTimeout: { loadBalancer: loadBalancerName(r.loadBalancerArn), seconds: idle } } : {}),
    ...(td ? { stopTimeouts: stopTimeouts(td) } : {}),
    ...(stickiness !== undefined ? { stickiness: { seconds: stickiness } } : {}),
  };
}

/** Essential containers' SIGTERM-to-SIGKILL time (non-essential sidecars such as a log router do not serve requests). */
export function stopTimeouts(td: TaskDefinition): NonNullable<DrainFacts['stopTimeouts']> {
  const name = `task definition ${td.family}:${td.revision}`;
  return (td.containerDefinitions ?? [])
    .filter((c) => c.essential !== false)
    .map((c) => ({ taskDefinition: name, container: c.name ?? '(unnamed)', seconds: c.stopTimeout ?? ECS_DEFAULT_STOP_TIMEOUT_S, defaulted: c.stopTimeout === undefined }));
}

/** Seconds of the forward action's stickiness, when it is on. */
export function forwardStickiness(actions: Action[]): number | undefined {
  const cfg = actions.find((a) => a.Type === 'forward')?.ForwardConfig?.TargetGroupStickinessConfig;
  return cfg?.Enabled ? (cfg.DurationSeconds ?? 0) : undefined;
}

function attribute(attrs: { Key?: string; Value?: string }[] | undefined, key: string): number | undefined {
  const v = attrs?.find((a) => a.Key === key)?.Value;
  return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
}

/** `arn:…:loadbalancer/app/web-alb/123` → `web-alb`. */
function loadBalancerName(arn: string): string {
  return arn.split('/')[2] ?? arn;
}
