import { DescribeServicesCommand, DescribeTaskDefinitionCommand, type Deployment, type Service, type TaskDefinition } from '@aws-sdk/client-ecs';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  type Action,
  type Listener,
  type LoadBalancer,
  type Rule,
  type RuleCondition,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConfigError, ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import type { RevisionSpec } from '../../core/provider.js';
import { awsCall, type AwsClients } from './aws-clients.js';
import { addTagsWithRetry, checkOwner, describeElbTags, OWNER_TAG } from './ownership.js';
import { isAwsError } from '../../aws/aws-errors.js';
import { forwardWeights, toPercents } from './forward-action.js';
import { isArn, type AwsProviderConfig } from './schema.js';
import { idFromImage } from '../../core/image-ref.js';
import { containerImage } from './task-definition.js';

/** Tags zdd keeps on each slot's target group, so any machine can tell which revision a slot runs. */
export const TAG = {
  service: 'zdd:service',
  revision: 'zdd:revision',
  image: 'zdd:image',
  taskDefinition: 'zdd:task-definition',
  /** stable | candidate | previous | idle, as of zdd's last change. */
  role: 'zdd:role',
} as const;

export type SlotRole = 'stable' | 'candidate' | 'previous' | 'idle';

/** One slot as configured and resolved: an ECS service and its target group. */
export interface SlotRef {
  index: 0 | 1;
  serviceName: string;
  serviceArn: string;
  targetGroupArn: string;
  targetGroupName: string;
}

/** The AWS resources named by the config, resolved to ARNs once per command. */
export interface Resolved {
  cluster: string;
  slots: [SlotRef, SlotRef];
  listenerArn: string;
  /** The rule whose forward action zdd weights; undefined means the listener's default action. */
  ruleArn?: string;
  /** That rule's conditions (host, path …): the header rule repeats them so it matches only the same requests. */
  ruleConditions: RuleCondition[];
  loadBalancerArn: string;
  dnsName: string;
  protocol: string;
  port: number;
  /** Priority of the production rule; undefined when production is the listener's default action. */
  productionPriority?: number;
  testListener?: { arn: string; port: number; protocol: string };
  /** Why provider.testListener cannot be used; thrown only by the commands that need the test route. */
  testListenerProblem?: Error;
}

/** A slot as AWS shows it now. */
export interface SlotView {
  ref: SlotRef;
  service: Service;
  tags: Record<string, string>;
  /** The revision this slot runs, or null when it is empty (no tasks, nothing recorded). */
  revision: RevisionSpec | null;
  /** True when the id came from the image, not from zdd's tags (a slot zdd never deployed to). */
  derived: boolean;
  /** Percent of production traffic the slot's group gets. */
  weight: number;
}

export interface SlotsSnapshot {
  views: [SlotView, SlotView];
  /** The production action list as read. */
  actions: Action[];
  /** Groups in the forward action that are not slots, with their percent. */
  foreign: Map<string, number>;
}

/**
 * Knows the two slots: resolves the configured names, reads services, tags and weights, and maps
 * revision ids to slots. Shared by the ECS platform and the ALB router of one provider.
 */
export class AwsSlots {
  private resolved: Resolved | null = null;
  private last: SlotsSnapshot | null = null;
  private readonly taskDefinitions = new Map<string, TaskDefinition>();
  /** Whether the production action already carries this service's zdd:service tag. */
  private productionClaimed = false;
  /** The account id, from the first ARN AWS returned (none is known before that). */
  private account: string | undefined;

  constructor(
    readonly config: AwsProviderConfig,
    readonly clients: AwsClients,
    private readonly events: EventSink,
    readonly serviceName: string,
  ) {}

  /** The header rule's settings; `priority` undefined means "the highest free one before production" (ownership.ts). */
  get headerRoute(): { header: string; value: string; priority?: number } | null {
    const t = this.config.testRoute;
    if (t === false) return null;
    return { header: t?.header ?? 'X-Canary', value: t?.value ?? 'always', priority: t?.priority };
  }

  /** The test listener, or the reason it cannot be used (only commands that route test traffic ask). */
  async testListener(): Promise<Resolved['testListener']> {
    const r = await this.resolve();
    if (r.testListenerProblem) throw r.testListenerProblem;
    return r.testListener;
  }

  /** Resolve every configured resource; throws ProviderError naming the first thing that is missing. */
  async resolve(): Promise<Resolved> {
    if (this.resolved) return this.resolved;
    const { config, clients } = this;
    // The load balancer first: its ARN names the account for every later "not found".
    const { listener, loadBalancer, listeners } = await this.describeListener();
    this.noteArn(loadBalancer.LoadBalancerArn);
    const services = await this.describeServices(config.slots.map((s) => s.service));
    const groups = await this.describeTargetGroups(config.slots.map((s) => s.targetGroup));
    const slots = config.slots.map((s, i): SlotRef => {
      const svc = services[i];
      const tg = groups[i];
      const registered = (svc.loadBalancers ?? []).map((lb) => lb.targetGroupArn).filter(Boolean);
      if (registered.length > 0 && !registered.includes(tg.TargetGroupArn)) {
        throw new ProviderError(`ECS service "${svc.serviceName}" registers its tasks in ${registered.join(', ')}, not in target group "${tg.TargetGroupName}"`, {
          hint: `Pair each service with its own target group in provider.slots (slot ${i + 1}).`,
        });
      }
      return { index: i as 0 | 1, serviceName: svc.serviceName!, serviceArn: svc.serviceArn!, targetGroupArn: tg.TargetGroupArn!, targetGroupName: tg.TargetGroupName! };
    }) as [SlotRef, SlotRef];

    let ruleArn: string | undefined;
    let ruleConditions: RuleCondition[] = [];
    let productionPriority: number | undefined;
    if (config.rule) {
      const want = config.rule;
      const rules = await awsCall<{ Rules?: Rule[] }>(clients.elb, 'elasticloadbalancing', new DescribeRulesCommand({ ListenerArn: listener.ListenerArn }), listener.ListenerArn!);
      const rule = (rules.Rules ?? []).find((r) => (typeof want === 'string' ? r.RuleArn === want : r.Priority === String(want.priority)));
      if (!rule) {
        throw new ProviderError(`Listener rule ${typeof want === 'string' ? want : `with priority ${want.priority}`} not found on listener ${listener.ListenerArn} (${await this.where()})`, {
          hint: 'Check provider.rule (an ARN or { priority }) against `aws elbv2 describe-rules --listener-arn …`.',
        });
      }
      ruleArn = rule.RuleArn;
      productionPriority = Number(rule.Priority);
      ruleConditions = rule.Conditions ?? [];
    }
    // zdd writes the production action only if it is this service's (or nobody's yet).
    const productionArn = ruleArn ?? listener.ListenerArn!;
    const owner = checkOwner((await describeElbTags(clients, [productionArn])).get(productionArn), this.serviceName, ruleArn ? `Listener rule ${ruleArn}` : `The default action of listener ${productionArn}`);
    this.productionClaimed = owner.claimed;
    // The test listener is resolved here but checked only by the commands that use it: a rollback never needs it.
    let testListener: Resolved['testListener'];
    let testListenerProblem: Error | undefined;
    if (config.testListener) {
      const want = config.testListener;
      const l = listeners.find((x) => (typeof want === 'string' ? x.ListenerArn === want : x.Port === want.port));
      if (!l) {
        testListenerProblem = new ProviderError(`Test listener ${typeof want === 'string' ? want : `on port ${want.port}`} not found on load balancer ${loadBalancer.LoadBalancerName} (${await this.where()})`, {
          hint: 'Create the listener (its default action may forward anywhere; zdd rewrites it), or remove provider.testListener.',
        });
      } else if (l.ListenerArn === listener.ListenerArn) {
        testListenerProblem = new ConfigError([{ path: 'provider.testListener', message: 'must be a different listener than the production one' }]);
      } else testListener = { arn: l.ListenerArn!, port: l.Port!, protocol: l.Protocol ?? 'HTTP' };
    }
    this.resolved = {
      cluster: config.cluster,
      slots,
      listenerArn: listener.ListenerArn!,
      ruleArn,
      ruleConditions,
      loadBalancerArn: loadBalancer.LoadBalancerArn!,
      dnsName: loadBalancer.DNSName ?? '',
      protocol: listener.Protocol ?? 'HTTP',
      port: listener.Port ?? 80,
      productionPriority,
      testListener,
      testListenerProblem,
    };
    return this.resolved;
  }

  private async describeServices(names: string[]): Promise<Service[]> {
    const { cluster } = this.config;
    let res: { services?: Service[]; failures?: { arn?: string; reason?: string }[] };
    try {
      res = await awsCall(this.clients.ecs, 'ecs', new DescribeServicesCommand({ cluster, services: names }), `cluster ${cluster}`);
    } catch (e) {
      if (isAwsError(e, 'ClusterNotFound')) {
        throw new ProviderError(`ECS cluster "${cluster}" not found (${await this.where()})`, { cause: e, hint: 'Check provider.cluster, and the region: --region beats provider.region, which beats AWS_REGION and the profile.' });
      }
      throw e;
    }
    for (const s of res.services ?? []) this.noteArn(s.serviceArn);
    const where = await this.where();
    return names.map((name) => {
      const svc = (res.services ?? []).find((s) => s.serviceName === name || s.serviceArn === name);
      if (!svc || svc.status !== 'ACTIVE') {
        const why = svc ? `is ${svc.status}` : `not found (${(res.failures ?? []).find((f) => f.arn?.endsWith(`/${name}`) || f.arn === name)?.reason ?? 'MISSING'})`;
        throw new ProviderError(`ECS service "${name}" in cluster "${cluster}" ${why} (${where})`, {
          hint: 'Create both slot services (the second one with desiredCount 0 is fine), or fix provider.slots.',
        });
      }
      return svc;
    });
  }

  private async describeTargetGroups(namesOrArns: string[]): Promise<TargetGroup[]> {
    const out: TargetGroup[] = [];
    for (const ref of namesOrArns) {
      const input = isArn(ref) ? { TargetGroupArns: [ref] } : { Names: [ref] };
      try {
        const res = await awsCall<{ TargetGroups?: TargetGroup[] }>(this.clients.elb, 'elasticloadbalancing', new DescribeTargetGroupsCommand(input), `target group ${ref}`);
        out.push(res.TargetGroups![0]);
        this.noteArn(res.TargetGroups![0].TargetGroupArn);
      } catch (e) {
        if (isAwsError(e, 'TargetGroupNotFound')) {
          throw new ProviderError(`Target group "${ref}" not found (${await this.where()})`, { cause: e, hint: 'Check provider.slots[].targetGroup (name or ARN) and the region (--region, provider.region, AWS_REGION).' });
        }
        throw e;
      }
    }
    return out;
  }

  private async describeListener(): Promise<{ listener: Listener; loadBalancer: LoadBalancer; listeners: Listener[] }> {
    const { elb } = this.clients;
    const want = this.config.listener;
    try {
      if (typeof want === 'string') {
        const l = (await awsCall<{ Listeners?: Listener[] }>(elb, 'elasticloadbalancing', new DescribeListenersCommand({ ListenerArns: [want] }), `listener ${want}`)).Listeners![0];
        const lb = (await awsCall<{ LoadBalancers?: LoadBalancer[] }>(elb, 'elasticloadbalancing', new DescribeLoadBalancersCommand({ LoadBalancerArns: [l.LoadBalancerArn!] }), `load balancer ${l.LoadBalancerArn}`)).LoadBalancers![0];
        const listeners = this.config.testListener
          ? ((await awsCall<{ Listeners?: Listener[] }>(elb, 'elasticloadbalancing', new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }), `load balancer ${lb.LoadBalancerName}`)).Listeners ?? [])
          : [l];
        return { listener: l, loadBalancer: lb, listeners };
      }
      const lbInput = isArn(want.loadBalancer) ? { LoadBalancerArns: [want.loadBalancer] } : { Names: [want.loadBalancer] };
      const lb = (await awsCall<{ LoadBalancers?: LoadBalancer[] }>(elb, 'elasticloadbalancing', new DescribeLoadBalancersCommand(lbInput), `load balancer ${want.loadBalancer}`)).LoadBalancers![0];
      const listeners = (await awsCall<{ Listeners?: Listener[] }>(elb, 'elasticloadbalancing', new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }), `load balancer ${want.loadBalancer}`)).Listeners ?? [];
      const l = listeners.find((x) => x.Port === want.port);
      if (!l) {
        throw new ProviderError(`Load balancer "${lb.LoadBalancerName}" has no listener on port ${want.port} (ports: ${listeners.map((x) => x.Port).join(', ') || 'none'}; ${await this.where(lb.LoadBalancerArn)})`, {
          hint: 'Fix provider.listener.port, or create the listener with a forward action to the stable slot\'s target group.',
        });
      }
      return { listener: l, loadBalancer: lb, listeners };
    } catch (e) {
      const listenerMissing = isAwsError(e, 'ListenerNotFound');
      if (listenerMissing || isAwsError(e, 'LoadBalancerNotFound')) {
        throw new ProviderError(`${listenerMissing ? 'Listener' : 'Load balancer'} ${JSON.stringify(want)} not found (${await this.where(typeof want === 'string' ? want : want.loadBalancer)})`, {
          cause: e,
          hint: 'Check provider.listener (a listener ARN, or { loadBalancer: name, port }) and the region.',
        });
      }
      throw e;
    }
  }

  /**
   * Where zdd looked, for "not found" messages: `region us-east-1, account 123456789012` (the
   * account once an ARN has named it). A wrong region is the usual cause of a missing resource.
   */
  async where(arnHint?: string): Promise<string> {
    this.noteArn(arnHint);
    let region: string;
    try {
      region = `region ${await this.clients.ecs.config.region()}`;
    } catch {
      region = 'no region set';
    }
    return this.account ? `${region}, account ${this.account}` : region;
  }

  private noteArn(arn: string | undefined): void {
    const account = arn?.split(':')[4];
    if (!this.account && account && /^\d{12}$/.test(account)) this.account = account;
  }

  /** The production action list (listener default actions, or the chosen rule's actions). */
  async readActions(): Promise<Action[]> {
    const r = await this.resolve();
    if (r.ruleArn) {
      const res = await awsCall<{ Rules?: Rule[] }>(this.clients.elb, 'elasticloadbalancing', new DescribeRulesCommand({ RuleArns: [r.ruleArn] }), r.ruleArn);
      return res.Rules?.[0]?.Actions ?? [];
    }
    const res = await awsCall<{ Listeners?: Listener[] }>(this.clients.elb, 'elasticloadbalancing', new DescribeListenersCommand({ ListenerArns: [r.listenerArn] }), r.listenerArn);
    return res.Listeners?.[0]?.DefaultActions ?? [];
  }

  /** Replace the production action list in one call; the first write claims it for this service (tag). */
  async writeActions(actions: Action[]): Promise<void> {
    const r = await this.resolve();
    if (r.ruleArn) {
      await awsCall(this.clients.elb, 'elasticloadbalancing', new ModifyRuleCommand({ RuleArn: r.ruleArn, Actions: actions }), r.ruleArn);
    } else {
      await awsCall(this.clients.elb, 'elasticloadbalancing', new ModifyListenerCommand({ ListenerArn: r.listenerArn, DefaultActions: actions }), r.listenerArn);
    }
    if (!this.productionClaimed) {
      const arn = r.ruleArn ?? r.listenerArn;
      this.productionClaimed = await addTagsWithRetry(this.clients, arn, { [OWNER_TAG]: this.serviceName }, r.ruleArn ? `rule ${arn}` : `listener ${arn}`, (m) => this.emitWarn(m));
    }
  }

  /** Percent per target group ARN from an action list; throws when there is no forward action. */
  percents(actions: Action[]): Map<string, number> {
    const raw = forwardWeights(actions);
    if (!raw) {
      throw new ProviderError(`The production ${this.resolved?.ruleArn ? 'rule' : 'listener default action'} does not forward to target groups (actions: ${actions.map((a) => a.Type).join(', ') || 'none'})`, {
        hint: "Point it at the stable slot's target group with a forward action once; zdd manages the weights from then on.",
      });
    }
    return toPercents(raw);
  }

  /** Read services, tags and weights (3 calls, plus one DescribeTaskDefinition per slot zdd never tagged). */
  async refresh(): Promise<SlotsSnapshot> {
    const r = await this.resolve();
    const [services, tagged, actions] = await Promise.all([
      this.describeServices(r.slots.map((s) => s.serviceArn)),
      awsCall<{ TagDescriptions?: { ResourceArn?: string; Tags?: { Key?: string; Value?: string }[] }[] }>(
        this.clients.elb,
        'elasticloadbalancing',
        new DescribeTagsCommand({ ResourceArns: r.slots.map((s) => s.targetGroupArn) }),
        'slot target groups',
      ),
      this.readActions(),
    ]);
    const percents = this.percents(actions);
    const views = await Promise.all(
      r.slots.map(async (ref, i): Promise<SlotView> => {
        const service = services[i];
        const tags: Record<string, string> = {};
        for (const t of tagged.TagDescriptions?.find((d) => d.ResourceArn === ref.targetGroupArn)?.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
        const weight = percents.get(ref.targetGroupArn) ?? 0;
        return { ref, service, tags, weight, ...(await this.identity(ref, service, tags, weight)) };
      }),
    );
    // Two slots created from the same task definition look alike: the one with traffic (or tasks) keeps the id.
    const [a, b] = views;
    if (a.revision && b.revision && a.revision.id === b.revision.id) {
      const loser = a.weight !== b.weight ? (a.weight < b.weight ? a : b) : (a.service.desiredCount ?? 0) < (b.service.desiredCount ?? 0) ? a : b;
      loser.revision = null;
      loser.derived = false;
    }
    const foreign = new Map<string, number>();
    for (const [arn, w] of percents) if (!r.slots.some((s) => s.targetGroupArn === arn)) foreign.set(arn, w);
    this.last = { views: [a, b], actions, foreign };
    return this.last;
  }

  private async identity(ref: SlotRef, service: Service, tags: Record<string, string>, weight: number): Promise<{ revision: RevisionSpec | null; derived: boolean }> {
    const taskDefinition = service.taskDefinition ?? '';
    const meta = this.meta(ref, taskDefinition);
    if (tags[TAG.revision] && tags[TAG.taskDefinition] === taskDefinition) {
      const image = tags[TAG.image];
      return { revision: { id: tags[TAG.revision], ...(image ? { image } : {}), meta }, derived: false };
    }
    if ((service.desiredCount ?? 0) === 0 && weight === 0) return { revision: null, derived: false };
    const td = await this.taskDefinition(taskDefinition);
    const image = containerImage(td, this.config.container);
    const id = image ? idFromImage(image) : `${td.family}-${td.revision}`;
    return { revision: { id, ...(image ? { image } : {}), meta }, derived: true };
  }

  /** What a revision's `meta` carries: its slot and task definition (a rollback to it re-uses both). */
  meta(ref: SlotRef, taskDefinition: string): Record<string, string> {
    return { slot: ref.serviceName, taskDefinition };
  }

  async taskDefinition(arn: string): Promise<TaskDefinition> {
    const cached = this.taskDefinitions.get(arn);
    if (cached) return cached;
    const res = await awsCall<{ taskDefinition?: TaskDefinition }>(this.clients.ecs, 'ecs', new DescribeTaskDefinitionCommand({ taskDefinition: arn }), arn);
    this.taskDefinitions.set(arn, res.taskDefinition!);
    return res.taskDefinition!;
  }

  /** The last snapshot, or a fresh one. */
  async current(): Promise<SlotsSnapshot> {
    return this.last ?? this.refresh();
  }

  /** The slot running `revisionId`; refreshes once before giving up. */
  async slotOf(revisionId: string): Promise<SlotView> {
    const find = (s: SlotsSnapshot) => s.views.find((v) => v.revision?.id === revisionId);
    const hit = find(await this.current()) ?? find(await this.refresh());
    if (hit) return hit;
    const seen = this.last!.views.map((v) => `${v.ref.serviceName}: ${v.revision?.id ?? 'empty'}`).join(', ');
    throw new ProviderError(`Revision "${revisionId}" runs in neither slot (${seen})`, {
      changed: true,
      hint: 'Run `zdd status` to see what each slot runs; the tags zdd:revision on the target groups record it.',
    });
  }

  /** Remember a slot's new state after zdd changed it (saves a refresh). */
  update(index: 0 | 1, patch: Partial<Pick<SlotView, 'revision' | 'derived' | 'weight' | 'tags'>> & { desired?: number; taskDefinition?: string }): void {
    const v = this.last?.views[index];
    if (!v) return;
    if (patch.revision !== undefined) v.revision = patch.revision;
    if (patch.derived !== undefined) v.derived = patch.derived;
    if (patch.weight !== undefined) v.weight = patch.weight;
    if (patch.tags) v.tags = { ...v.tags, ...patch.tags };
    if (patch.desired !== undefined) v.service = { ...v.service, desiredCount: patch.desired };
    if (patch.taskDefinition !== undefined) v.service = { ...v.service, taskDefinition: patch.taskDefinition };
  }

  /** Write zdd's tags on a slot's target group (only the ones that differ), retried; a failure only warns. */
  async tag(view: SlotView, tags: Record<string, string>): Promise<void> {
    const changed = Object.entries(tags).filter(([k, v]) => view.tags[k] !== v);
    if (changed.length === 0) return;
    const ok = await addTagsWithRetry(this.clients, view.ref.targetGroupArn, Object.fromEntries(changed), `target group ${view.ref.targetGroupName}`, (m) => this.emitWarn(m));
    if (ok) this.update(view.ref.index, { tags: Object.fromEntries(changed) });
  }

  /** Tags that record what a slot runs. */
  identityTags(revision: RevisionSpec, taskDefinition: string, role: SlotRole): Record<string, string> {
    return {
      [TAG.service]: this.serviceName,
      [TAG.revision]: revision.id,
      [TAG.image]: revision.image ?? '',
      [TAG.taskDefinition]: taskDefinition,
      [TAG.role]: role,
    };
  }

  emitWarn(message: string): void {
    this.events.emit({ type: 'warn', message });
  }

  emitInfo(message: string): void {
    this.events.emit({ type: 'info', message });
  }
}

/** The primary ECS deployment (the one rolling out the service's current task definition). */
export function primaryDeployment(service: Service): Deployment | undefined {
  return (service.deployments ?? []).find((d) => d.status === 'PRIMARY');
}
