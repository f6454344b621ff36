import { DescribeTaskDefinitionCommand, type Deployment, type Service, type TaskDefinition } from '@aws-sdk/client-ecs';
import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  type Action,
  type Listener,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ProviderError } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import { idFromImage } from '../../core/image-ref.js';
import type { RevisionSpec } from '../../core/provider.js';
import { awsCall, type AwsClients } from './aws-clients.js';
import { AwsResources, type Resolved, type SlotRef } from './aws-resources.js';
import { forwardWeights, toPercents } from './forward-action.js';
import { addTagsWithRetry, OWNER_TAG } from './ownership.js';
import type { AwsProviderConfig } from './schema.js';
import { containerImage } from './task-definition.js';

export type { Resolved, SlotRef } from './aws-resources.js';

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
 * Knows the two slots: reads services, tags and weights (on top of AwsResources), and maps
 * revision ids to slots. Shared by the ECS platform and the ALB router of one provider.
 */
export class AwsSlots {
  private last: SlotsSnapshot | null = null;
  private readonly taskDefinitions = new Map<string, TaskDefinition>();
  /** The configured names resolved to ARNs (and where zdd looked, for messages). */
  readonly resources: AwsResources;

  constructor(
    readonly config: AwsProviderConfig,
    readonly clients: AwsClients,
    private readonly events: EventSink,
    readonly serviceName: string,
  ) {
    this.resources = new AwsResources(config, clients, serviceName);
  }

  /** Resolve every configured resource once per command; throws ProviderError naming the first thing that is missing. */
  resolve(): Promise<Resolved> {
    return this.resources.resolve();
  }

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
    if (!this.resources.productionClaimed) {
      const arn = r.ruleArn ?? r.listenerArn;
      this.resources.productionClaimed = await addTagsWithRetry(this.clients, arn, { [OWNER_TAG]: this.serviceName }, r.ruleArn ? `rule ${arn}` : `listener ${arn}`, (m) => this.emitWarn(m));
    }
  }

  /** Percent per target group ARN from an action list; throws when there is no forward action. */
  percents(actions: Action[]): Map<string, number> {
    const raw = forwardWeights(actions);
    if (!raw) {
      throw new ProviderError(`The production ${this.resources.resolvedNow?.ruleArn ? 'rule' : 'listener default action'} does not forward to target groups (actions: ${actions.map((a) => a.Type).join(', ') || 'none'})`, {
        hint: "Point it at the stable slot's target group with a forward action once; zdd manages the weights from then on.",
      });
    }
    return toPercents(raw);
  }

  /** Read services, tags and weights (3 calls, plus one DescribeTaskDefinition per slot zdd never tagged). */
  async refresh(): Promise<SlotsSnapshot> {
    const r = await this.resolve();
    const [services, tagged, actions] = await Promise.all([
      this.resources.describeServices(r.slots.map((s) => s.serviceArn)),
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
