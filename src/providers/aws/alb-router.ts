import {
  CreateRuleCommand,
  DeleteRuleCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  type Listener,
  type Rule,
  type RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConfigError, ProviderError, TrafficMismatchError } from '../../core/errors.js';
import type { TrafficRouter, WeightMap } from '../../core/provider.js';
import { awsCall } from './aws-clients.js';
import { TAG, type AwsSlots, type SlotRole, type SlotView } from './aws-slots.js';
import { addTagsWithRetry, checkOwner, describeElbTags, findOwnRule, freePriority, OWNER_TAG } from './ownership.js';
import { forwardTo, forwardWeights, withForwardWeights } from './forward-action.js';

/**
 * Traffic through an Application Load Balancer: one weighted forward action over both slots'
 * target groups (the idle one at weight 0, so it stays attached and health-checked), and a header
 * rule (plus an optional test listener) that reaches the candidate before it has weight.
 */
export class AlbRouter implements TrafficRouter {
  constructor(private readonly slots: AwsSlots) {}

  async setWeights(weights: WeightMap): Promise<void> {
    const snap = await this.slots.current();
    const next = new Map<string, number>();
    for (const v of snap.views) next.set(v.ref.targetGroupArn, 0);
    for (const [id, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 100) throw new ProviderError(`Weight for revision "${id}" must be a whole percent 0–100, got ${w}`, { changed: false });
      const hit = snap.views.find((v) => v.revision?.id === id) ?? (w > 0 ? await this.slots.slotOf(id) : undefined);
      if (hit) next.set(hit.ref.targetGroupArn, w);
    }
    const actions = await this.slots.readActions();
    // ALB weights are relative (0–999); percents summing to 100 are valid ALB weights as they are.
    const sticky = this.slots.config.stickiness;
    await this.slots.writeActions(withForwardWeights(actions, next, sticky === undefined ? undefined : Math.round(sticky / 1000)));
    // slotOf() may have refreshed the snapshot: update and tag the current one.
    const views = (await this.slots.current()).views;
    for (const v of views) this.slots.update(v.ref.index, { weight: next.get(v.ref.targetGroupArn) ?? 0 });
    await this.recordRoles(views);
  }

  async getWeights(): Promise<WeightMap> {
    const actions = await this.slots.readActions();
    const percents = this.slots.percents(actions);
    const snap = await this.slots.current();
    const out: WeightMap = {};
    for (const [arn, w] of percents) {
      let view = snap.views.find((v) => v.ref.targetGroupArn === arn);
      if (view && !view.revision && w > 0) view = (await this.slots.refresh()).views[view.ref.index];
      // A group that is not a slot, or a slot with traffic but no revision, shows under its ARN: the engine treats it as a mismatch.
      const key = view?.revision?.id ?? arn;
      out[key] = (out[key] ?? 0) + w;
    }
    for (const v of snap.views) if (v.revision && !(v.revision.id in out)) out[v.revision.id] = 0;
    return out;
  }

  /** Point the header rule (and the test listener, when configured) at `revisionId`'s slot; null removes the route. */
  async setTestRoute(revisionId: string | null): Promise<void> {
    const r = await this.slots.resolve();
    const header = this.slots.headerRoute;
    const testListener = await this.slots.testListener();
    if (!header && !testListener) throw new ProviderError('No test route is configured (provider.testRoute is false and there is no provider.testListener)', { changed: false });
    const view = revisionId === null ? null : await this.slots.slotOf(revisionId);
    if (header) {
      const rules = await this.listenerRules();
      const existing = await findOwnRule(this.slots.clients, rules, header.header, this.slots.serviceName);
      if (view) {
        const actions = [forwardTo(view.ref.targetGroupArn)];
        if (existing) {
          await awsCall(this.slots.clients.elb, 'elasticloadbalancing', new ModifyRuleCommand({ RuleArn: existing.RuleArn, Actions: actions }), existing.RuleArn!);
        } else {
          await awsCall(
            this.slots.clients.elb,
            'elasticloadbalancing',
            new CreateRuleCommand({
              ListenerArn: r.listenerArn,
              Priority: this.priorityFor(rules, header.priority, r.productionPriority, r.listenerArn),
              Conditions: [...r.ruleConditions.map(copyCondition), { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: header.header, Values: [header.value] } }],
              Actions: actions,
              // Created with its owner tag in the same call: zdd finds (and deletes) only its own rule.
              Tags: [{ Key: OWNER_TAG, Value: this.slots.serviceName }],
            }),
            r.listenerArn,
          );
        }
      } else if (existing) {
        await awsCall(this.slots.clients.elb, 'elasticloadbalancing', new DeleteRuleCommand({ RuleArn: existing.RuleArn }), existing.RuleArn!);
      }
    }
    if (testListener) {
      const owner = checkOwner((await describeElbTags(this.slots.clients, [testListener.arn])).get(testListener.arn), this.slots.serviceName, `Test listener ${testListener.arn}`);
      // A listener needs a default action: without a candidate it serves what production serves.
      const target = view ?? (await this.slots.current()).views.reduce((a, b) => (b.weight > a.weight ? b : a));
      await awsCall(
        this.slots.clients.elb,
        'elasticloadbalancing',
        new ModifyListenerCommand({ ListenerArn: testListener.arn, DefaultActions: [forwardTo(target.ref.targetGroupArn)] }),
        testListener.arn,
      );
      if (!owner.claimed) await addTagsWithRetry(this.slots.clients, testListener.arn, { [OWNER_TAG]: this.slots.serviceName }, `listener ${testListener.arn}`, (m) => this.slots.emitWarn(m));
    }
    await this.verifyTestRoute(view);
  }

  /** The configured priority if it is free, else the highest free one before production. */
  private priorityFor(rules: Rule[], wanted: number | undefined, productionPriority: number | undefined, listenerArn: string): number {
    if (wanted !== undefined) {
      if (productionPriority !== undefined && wanted >= productionPriority) {
        throw new ConfigError([{ path: 'provider.testRoute.priority', message: `must be lower than the production rule's priority ${productionPriority}, so the header rule is evaluated first (got ${wanted})` }]);
      }
      const taken = rules.find((x) => x.Priority === String(wanted));
      if (taken) {
        throw new ProviderError(`Priority ${wanted} on listener ${listenerArn} is taken by another rule (${taken.RuleArn})`, {
          hint: "Remove provider.testRoute.priority to let zdd pick the highest free priority before production, or set a free one.",
        });
      }
      return wanted;
    }
    const free = freePriority(rules, productionPriority);
    if (free === undefined) throw new ProviderError(`No free rule priority before the production ${productionPriority ? `rule (${productionPriority})` : 'default action'} on listener ${listenerArn} for zdd's header rule`, { hint: 'Free one, or set provider.testRoute: false.' });
    return free;
  }

  private async listenerRules(): Promise<Rule[]> {
    const r = await this.slots.resolve();
    return (await awsCall<{ Rules?: Rule[] }>(this.slots.clients.elb, 'elasticloadbalancing', new DescribeRulesCommand({ ListenerArn: r.listenerArn }), r.listenerArn)).Rules ?? [];
  }

  /** Which revision the header rule (or else the test listener) reaches now; null when none. */
  async testRoute(): Promise<string | null> {
    const r = await this.slots.resolve();
    let arn: string | undefined;
    if (this.slots.headerRoute) {
      const rule = await this.headerRule();
      arn = rule ? [...(forwardWeights(rule.Actions)?.keys() ?? [])][0] : undefined;
    } else if (r.testListener && !r.testListenerProblem) {
      const l = await this.describeListener(r.testListener.arn);
      arn = [...(forwardWeights(l?.DefaultActions)?.keys() ?? [])][0];
    }
    if (!arn) return null;
    const snap = await this.slots.current();
    return snap.views.find((v) => v.ref.targetGroupArn === arn)?.revision?.id ?? arn;
  }

  private async verifyTestRoute(view: SlotView | null): Promise<void> {
    const r = await this.slots.resolve();
    if (this.slots.headerRoute) {
      const rule = await this.headerRule();
      const got = rule ? [...(forwardWeights(rule.Actions)?.keys() ?? [])] : [];
      const want = view ? [view.ref.targetGroupArn] : [];
      if (got.join() !== want.join()) {
        throw new TrafficMismatchError(`Header rule reads back as forwarding to ${got.join(', ') || 'nothing'} after zdd set ${want.join(', ') || 'no rule'}`);
      }
    }
    if (r.testListener && view) {
      const l = await this.describeListener(r.testListener.arn);
      const got = [...(forwardWeights(l?.DefaultActions)?.keys() ?? [])];
      if (got.join() !== view.ref.targetGroupArn) throw new TrafficMismatchError(`Test listener reads back as forwarding to ${got.join(', ') || 'nothing'} after zdd set ${view.ref.targetGroupName}`);
    }
  }

  private async headerRule(): Promise<Rule | undefined> {
    return findOwnRule(this.slots.clients, await this.listenerRules(), this.slots.headerRoute!.header, this.slots.serviceName);
  }

  private async describeListener(arn: string): Promise<Listener | undefined> {
    const res = await awsCall<{ Listeners?: Listener[] }>(this.slots.clients.elb, 'elasticloadbalancing', new DescribeListenersCommand({ ListenerArns: [arn] }), arn);
    return res.Listeners?.[0];
  }

  /**
   * Keep `zdd:role` on the target groups in step with traffic, so `zdd status` from any machine
   * says which slot is stable. Writes only what changed (usually nothing mid-canary).
   */
  private async recordRoles(views: SlotView[]): Promise<void> {
    const top = views.reduce((a, b) => (b.weight > a.weight || (b.weight === a.weight && b.tags[TAG.role] === 'stable') ? b : a));
    for (const v of views) {
      if (!v.revision) continue;
      let role: SlotRole = (v.tags[TAG.role] as SlotRole | undefined) ?? 'candidate';
      if (v === top && v.weight > 0) role = 'stable';
      else if (role === 'stable') role = 'previous';
      // A slot zdd never tagged gets its identity recorded the first time zdd routes traffic to it.
      const tags = v.derived ? this.slots.identityTags(v.revision, v.service.taskDefinition ?? '', role) : { [TAG.role]: role };
      await this.slots.tag(v, tags);
      if (v.derived) this.slots.update(v.ref.index, { derived: false });
    }
  }
}

/**
 * A condition as CreateRule takes it: DescribeRules returns both the legacy `Values` and the typed
 * config, and CreateRule refuses the pair for some fields.
 */
function copyCondition(c: RuleCondition): RuleCondition {
  const { Values, ...typed } = c;
  const hasTyped = Object.keys(typed).some((k) => k !== 'Field' && (typed as Record<string, unknown>)[k] !== undefined);
  return hasTyped ? typed : { Field: c.Field, Values };
}
