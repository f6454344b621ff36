import { DescribeServicesCommand, type Service } from '@aws-sdk/client-ecs';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  type Listener,
  type LoadBalancer,
  type Rule,
  type RuleCondition,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { isAwsError } from '../../aws/aws-errors.js';
import { ConfigError, ProviderError } from '../../core/errors.js';
import { awsCall, type AwsClients } from './aws-clients.js';
import { checkOwner, describeElbTags } from './ownership.js';
import { isArn, type AwsProviderConfig } from './schema.js';

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

/**
 * The AWS resources a config names (cluster, services, target groups, listener, rule), resolved
 * to ARNs once per command, checked for ownership, and every "not found" naming the region and
 * account zdd looked in. Only what every command needs is checked here: the test route is
 * resolved by the commands that use it.
 */
export class AwsResources {
  private resolved: Resolved | null = null;
  /** Whether the production action already carries this service's zdd:service tag. */
  productionClaimed = false;
  /** The account id, from the first ARN AWS returned (none is known before that). */
  private account: string | undefined;

  constructor(
    private readonly config: AwsProviderConfig,
    private readonly clients: AwsClients,
    private readonly serviceName: string,
  ) {}

  /** The resolution made so far, if any (for messages). */
  get resolvedNow(): Resolved | null {
    return this.resolved;
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
    const slots = config.slots.map((_slot, i): SlotRef => {
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

  async describeServices(names: string[]): Promise<Service[]> {
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

}
