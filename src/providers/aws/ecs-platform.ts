import { DescribeServicesCommand, DescribeTaskDefinitionCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand, type Service, type Tag, type TaskDefinition } from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, type TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Clock } from '../../core/clock.js';
import { CheckFailedError, ProviderError } from '../../core/errors.js';
import { formatDuration } from '../../core/plan.js';
import type { HealthWaitOptions, MetricDimensions, Platform, RevisionEndpoints, RevisionSpec } from '../../core/provider.js';
import type { AlbDimensions } from '../../checks/metrics/alb-dimensions.js';
import { awsCall } from './aws-clients.js';
import { primaryDeployment, TAG, type AwsSlots, type SlotView } from './aws-slots.js';
import { forwardWeights, withForwardWeights } from './forward-action.js';
import { isTaskDefinitionArn, taskDefinitionWithImage } from './task-definition.js';

export const DEFAULT_POLL_INTERVAL_MS = 5000;

/**
 * Revisions as ECS services: the candidate goes to the idle slot's service with a task
 * definition copied from stable's (image replaced); health is ECS steadiness plus every target of
 * the slot's group healthy.
 */
export class EcsPlatform implements Platform {
  constructor(
    private readonly slots: AwsSlots,
    private readonly clock: Clock,
    private readonly pollIntervalMs: number = DEFAULT_POLL_INTERVAL_MS,
  ) {}

  async provision(revision: RevisionSpec, replicas: number): Promise<void> {
    const snap = await this.slots.refresh();
    const existing = snap.views.find((v) => v.revision?.id === revision.id);
    const live = stableView(snap.views);
    const target = existing ?? snap.views.find((v) => v !== live)!;
    if (!existing && target.weight > 0) {
      throw new ProviderError(
        `Slot ${target.ref.serviceName} still gets ${target.weight}% of production traffic (revision ${target.revision?.id ?? 'unknown'}), so it cannot take revision ${revision.id}`,
        { hint: 'Finish or roll back the deploy that left traffic on both slots (`zdd status`, `zdd rollback`).' },
      );
    }
    const taskDefinition = await this.taskDefinitionFor(revision, existing, live ?? target);
    const same = live && live !== target && live.revision && (taskDefinition === live.service.taskDefinition || (revision.image !== undefined && revision.image === live.revision.image));
    if (same) {
      this.slots.emitWarn(`Revision ${revision.id} runs the same image as stable ${live.revision!.id} (${live.revision!.image ?? taskDefinition}): this deploy is a redeploy of the same image, not a new version`);
    }
    const r = await this.slots.resolve();
    await awsCall(
      this.slots.clients.ecs,
      'ecs',
      new UpdateServiceCommand({ cluster: r.cluster, service: target.ref.serviceArn, taskDefinition, desiredCount: replicas }),
      `service ${target.ref.serviceName}`,
    );
    const meta = this.slots.meta(target.ref, taskDefinition);
    // The engine saves the candidate's spec right after provision: meta written here reaches the
    // deployment record, so checks (CloudWatch dimensions) and a later rollback can use it.
    revision.meta = { ...revision.meta, ...meta };
    const spec: RevisionSpec = { id: revision.id, ...(revision.image && !isTaskDefinitionArn(revision.image) ? { image: revision.image } : {}), meta };
    this.slots.update(target.ref.index, { revision: spec, derived: false, desired: replicas, taskDefinition });
    await this.slots.tag(target, this.slots.identityTags(spec, taskDefinition, 'candidate'));
    await this.attach(target);
  }

  /** The task definition the candidate runs: its own when a slot already has it, else a copy of the live one with the new image. */
  private async taskDefinitionFor(revision: RevisionSpec, existing: SlotView | undefined, base: SlotView): Promise<string> {
    if (existing?.revision && (!revision.image || revision.image === existing.revision.image || revision.image === existing.service.taskDefinition)) {
      return existing.service.taskDefinition!;
    }
    if (revision.image && isTaskDefinitionArn(revision.image)) return revision.image;
    // A revision zdd saw before (rollback to a previous one) carries its exact task definition.
    if (revision.meta?.taskDefinition) return revision.meta.taskDefinition;
    const baseArn = base.service.taskDefinition!;
    if (!revision.image) return baseArn;
    const res = await awsCall<{ taskDefinition?: TaskDefinition; tags?: Tag[] }>(
      this.slots.clients.ecs,
      'ecs',
      new DescribeTaskDefinitionCommand({ taskDefinition: baseArn, include: ['TAGS'] }),
      baseArn,
    );
    const input = taskDefinitionWithImage(res.taskDefinition!, res.tags, revision.image, this.slots.config.container);
    const registered = await awsCall<{ taskDefinition?: TaskDefinition }>(this.slots.clients.ecs, 'ecs', new RegisterTaskDefinitionCommand(input), `task definition family ${input.family}`);
    return registered.taskDefinition!.taskDefinitionArn!;
  }

  /** Keep the slot's group in the forward action (weight 0) so the load balancer health-checks its targets. */
  private async attach(view: SlotView): Promise<void> {
    const actions = await this.slots.readActions();
    const weights = forwardWeights(actions);
    if (weights?.has(view.ref.targetGroupArn)) return;
    this.slots.percents(actions); // throws a clear error when there is no forward action
    await this.slots.writeActions(withForwardWeights(actions, new Map([...(weights ?? []), [view.ref.targetGroupArn, 0]])));
    const back = forwardWeights(await this.slots.readActions());
    if (!back?.has(view.ref.targetGroupArn)) {
      throw new ProviderError(`Target group ${view.ref.targetGroupName} is not in the forward action after zdd added it at weight 0`, { changed: true });
    }
  }

  async scale(revisionId: string, replicas: number, _opts: { drainMs: number }): Promise<void> {
    const view = await this.slots.slotOf(revisionId);
    const r = await this.slots.resolve();
    // Shrinking: ECS deregisters the stopped tasks from the group and waits its deregistration delay, so in-flight requests finish.
    await awsCall(this.slots.clients.ecs, 'ecs', new UpdateServiceCommand({ cluster: r.cluster, service: view.ref.serviceArn, desiredCount: replicas }), `service ${view.ref.serviceName}`);
    this.slots.update(view.ref.index, { desired: replicas });
  }

  async waitHealthy(revisionId: string, opts: HealthWaitOptions): Promise<void> {
    const view = await this.slots.slotOf(revisionId);
    const r = await this.slots.resolve();
    const started = this.clock.now();
    const expected = view.tags[TAG.taskDefinition] || view.service.taskDefinition;
    let last = 'not checked yet';
    for (let poll = 1; ; poll++) {
      const res = await awsCall<{ services?: Service[] }>(this.slots.clients.ecs, 'ecs', new DescribeServicesCommand({ cluster: r.cluster, services: [view.ref.serviceArn] }), `service ${view.ref.serviceName}`);
      const svc = res.services?.find((x) => x.serviceArn === view.ref.serviceArn || x.serviceName === view.ref.serviceName);
      const verdict = svc ? this.serviceVerdict(svc, revisionId, expected) : { fail: `ECS service ${view.ref.serviceName} disappeared` };
      if ('fail' in verdict) throw new CheckFailedError(verdict.fail, 'See the service\'s events: aws ecs describe-services --cluster … --services …');
      if (verdict.wait) {
        last = verdict.wait;
      } else {
        const desired = svc!.desiredCount ?? 0;
        const targets = desired === 0 ? [] : await this.targets(view);
        const t = targetVerdict(targets, desired, view.ref.targetGroupName, revisionId);
        if ('fail' in t) throw new CheckFailedError(t.fail, 'Check the container logs and the target group\'s health check path/port.');
        if (!t.wait) return;
        last = t.wait;
      }
      const elapsed = this.clock.now() - started;
      if (elapsed >= opts.timeoutMs) {
        throw new CheckFailedError(`Revision ${revisionId} (ECS service ${view.ref.serviceName}) was not healthy after ${formatDuration(opts.timeoutMs)}: ${last}`, 'Raise health.timeout if tasks need longer to start, or look at the service events.');
      }
      await this.clock.sleep(Math.min(this.pollIntervalMs, Math.max(1, opts.timeoutMs - elapsed)), opts.signal);
    }
  }

  private serviceVerdict(svc: Service, revisionId: string, expected: string | undefined): { fail: string } | { wait?: string } {
    const primary = primaryDeployment(svc);
    if (primary?.rolloutState === 'FAILED') {
      return { fail: `ECS rollout of revision ${revisionId} in service ${svc.serviceName} FAILED: ${primary.rolloutStateReason ?? 'no reason given'}` };
    }
    if (expected && svc.taskDefinition && svc.taskDefinition !== expected) {
      // The deployment circuit breaker rolled the service back to its previous task definition.
      return { fail: `ECS service ${svc.serviceName} runs ${svc.taskDefinition}, not ${expected}: its deployment circuit breaker rolled revision ${revisionId} back` };
    }
    const desired = svc.desiredCount ?? 0;
    const running = svc.runningCount ?? 0;
    const deployments = svc.deployments?.length ?? 1;
    if (running !== desired || deployments > 1) {
      return { wait: `ECS service ${svc.serviceName}: ${running}/${desired} tasks running${deployments > 1 ? `, ${deployments} deployments in progress` : ''}` };
    }
    return {};
  }

  private async targets(view: SlotView): Promise<TargetHealthDescription[]> {
    const res = await awsCall<{ TargetHealthDescriptions?: TargetHealthDescription[] }>(
      this.slots.clients.elb,
      'elasticloadbalancing',
      new DescribeTargetHealthCommand({ TargetGroupArn: view.ref.targetGroupArn }),
      `target group ${view.ref.targetGroupName}`,
    );
    return res.TargetHealthDescriptions ?? [];
  }

  async retire(revisionId: string, opts: { drainMs: number }): Promise<void> {
    const view = await this.slots.slotOf(revisionId);
    const percents = this.slots.percents(await this.slots.readActions());
    const weight = percents.get(view.ref.targetGroupArn) ?? 0;
    if (weight > 0) {
      throw new ProviderError(`Refusing to stop revision ${revisionId}: the load balancer still sends it ${weight}% of production traffic`, { changed: false });
    }
    if ((view.service.desiredCount ?? 0) > 0) {
      // Weight 0 stops new requests; the drain lets the ones already in flight finish before tasks stop.
      await this.clock.sleep(opts.drainMs);
      const r = await this.slots.resolve();
      await awsCall(this.slots.clients.ecs, 'ecs', new UpdateServiceCommand({ cluster: r.cluster, service: view.ref.serviceArn, desiredCount: 0 }), `service ${view.ref.serviceName}`);
      this.slots.update(view.ref.index, { desired: 0 });
    }
    await this.slots.tag(view, { [TAG.role]: 'idle' });
  }

  async endpoints(revisionId: string): Promise<RevisionEndpoints> {
    const view = await this.slots.slotOf(revisionId);
    const r = await this.slots.resolve();
    const scheme = r.protocol === 'HTTPS' ? 'https' : 'http';
    const serviceUrl = this.slots.config.url ?? `${scheme}://${r.dnsName}${isDefaultPort(scheme, r.port) ? '' : `:${r.port}`}`;
    // The candidate's target group alternates between slots: metric checks learn it from here.
    const alb: AlbDimensions = { targetGroupArn: view.ref.targetGroupArn, loadBalancerArn: r.loadBalancerArn, region: r.loadBalancerArn.split(':')[3] };
    const metricDimensions: MetricDimensions = { alb };
    const header = this.slots.headerRoute;
    if (header) {
      // ALB matches * and ? in header values; send a literal value that the pattern accepts.
      return { serviceUrl, testUrl: serviceUrl, testHeaders: { [header.header]: header.value.replace(/\*/g, 'zdd').replace(/\?/g, 'z') }, metricDimensions };
    }
    if (r.testListener) {
      const tScheme = r.testListener.protocol === 'HTTPS' ? 'https' : 'http';
      const host = this.slots.config.url ? new URL(this.slots.config.url).hostname : r.dnsName;
      return { serviceUrl, testUrl: `${tScheme}://${host}:${r.testListener.port}`, metricDimensions };
    }
    return { serviceUrl, metricDimensions };
  }
}

/** The slot serving production: the most weight; none when no slot has any. */
export function stableView(views: SlotView[]): SlotView | undefined {
  const top = views.reduce((a, b) => (b.weight > a.weight || (b.weight === a.weight && b.tags[TAG.role] === 'stable') ? b : a));
  return top.weight > 0 ? top : views.find((v) => (v.service.desiredCount ?? 0) > 0 && v.revision);
}

function isDefaultPort(scheme: string, port: number): boolean {
  return (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
}

/** Every desired target registered and healthy; `initial` waits; `unhealthy` fails naming the target. */
export function targetVerdict(targets: TargetHealthDescription[], desired: number, group: string, revisionId: string): { fail: string } | { wait?: string } {
  const counts: Record<string, number> = {};
  for (const t of targets) {
    const state = t.TargetHealth?.State ?? 'unknown';
    if (state === 'unhealthy') {
      const h = t.TargetHealth!;
      return {
        fail: `Target ${t.Target?.Id}:${t.Target?.Port} of revision ${revisionId} in target group ${group} is unhealthy (${h.Reason ?? 'no reason'}${h.Description ? `: ${h.Description}` : ''})`,
      };
    }
    counts[state] = (counts[state] ?? 0) + 1;
  }
  const healthy = counts.healthy ?? 0;
  if (healthy >= desired && !counts.initial) return {};
  const others = Object.entries(counts)
    .filter(([s]) => s !== 'healthy')
    .map(([s, n]) => {
      const reason = targets.find((t) => t.TargetHealth?.State === s)?.TargetHealth?.Reason;
      return `${n} ${s}${reason ? ` (${reason})` : ''}`;
    });
  return { wait: `target group ${group}: ${healthy}/${desired} targets healthy${others.length ? `, ${others.join(', ')}` : ''}` };
}
