import { DescribeTargetHealthCommand, type Action, type TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { ProviderError } from '../../core/errors.js';
import type { DrainFacts, Provider, ProviderCapabilities, ProviderContext, ProviderFactory, ProviderSnapshot, RevisionState } from '../../core/provider.js';
import { AlbRouter } from './alb-router.js';
import { awsCall, createAwsClients, type AwsClients } from './aws-clients.js';
import { AwsSlots, TAG } from './aws-slots.js';
import { awsClientOptions } from './cli-options.js';
import { awsDrainFacts } from './drain-facts.js';
import { DEFAULT_POLL_INTERVAL_MS, EcsPlatform, stableView } from './ecs-platform.js';
import type { AwsProviderConfig } from './schema.js';

/** Sticky sessions longer than this keep clients on a slot long after a weight change or rollback. */
const STICKINESS_WARN_SECONDS = 300;

/** ECS services behind an Application Load Balancer. Loaded lazily by the provider registry. */
export const awsProvider: ProviderFactory<AwsProviderConfig> = {
  create: (config, ctx) => new AwsProvider(config, ctx),
};

export class AwsProvider implements Provider {
  readonly name = 'aws';
  readonly pair = { platform: 'aws', router: 'alb' };
  readonly capabilities: ProviderCapabilities;
  readonly platform: EcsPlatform;
  readonly router: AlbRouter;
  private readonly slots: AwsSlots;
  private readonly clients: AwsClients;

  /** `clients` lets tests pass mocked clients or ones pointed at the emulator. */
  constructor(config: AwsProviderConfig, ctx: ProviderContext, deps: { clients?: AwsClients } = {}) {
    this.clients = deps.clients ?? createAwsClients(awsClientOptions(config, ctx.options));
    this.slots = new AwsSlots(config, this.clients, ctx.events, ctx.service);
    this.platform = new EcsPlatform(this.slots, ctx.clock, config.pollInterval ?? DEFAULT_POLL_INTERVAL_MS);
    this.router = new AlbRouter(this.slots);
    this.capabilities = {
      weightedTraffic: true,
      instantSwitch: true,
      testRoute: config.testRoute !== false || config.testListener !== undefined,
      batches: true,
    };
  }

  /** Every configured resource exists, the production action forwards only to the slots. (Long stickiness is the drain lint's: src/engine/drain-lint.ts.) */
  async preflight(): Promise<void> {
    const snap = await this.slots.refresh();
    const foreign = [...snap.foreign].filter(([, w]) => w > 0);
    if (foreign.length) {
      throw new ProviderError(`The production forward action also sends traffic to ${foreign.map(([arn, w]) => `${arn} (${w}%)`).join(', ')}, which is not one of the two slots`, {
        hint: 'Move that traffic to a slot (or set its weight to 0) before deploying with zdd.',
      });
    }
  }

  /** Deregistration delays, idle timeout, stop timeouts and stickiness, for the drain lint. */
  drainFacts(): Promise<DrainFacts> {
    return awsDrainFacts(this.slots);
  }

  async snapshot(): Promise<ProviderSnapshot> {
    const snap = await this.slots.refresh();
    const notes: string[] = [];
    const revisions: RevisionState[] = [];
    const weights: Record<string, number> = {};
    for (const v of snap.views) {
      if (!v.revision) {
        notes.push(`slot ${v.ref.serviceName} (target group ${v.ref.targetGroupName}) is empty`);
        continue;
      }
      const desired = v.service.desiredCount ?? 0;
      let healthy: number | undefined;
      if (desired > 0) {
        const res = await awsCall<{ TargetHealthDescriptions?: TargetHealthDescription[] }>(
          this.clients.elb,
          'elasticloadbalancing',
          new DescribeTargetHealthCommand({ TargetGroupArn: v.ref.targetGroupArn }),
          `target group ${v.ref.targetGroupName}`,
        );
        healthy = (res.TargetHealthDescriptions ?? []).filter((t) => t.TargetHealth?.State === 'healthy').length;
      }
      revisions.push({ revision: v.revision, desired, ...(healthy !== undefined ? { healthy } : {}) });
      weights[v.revision.id] = v.weight;
      const role = v.tags[TAG.role];
      notes.push(`slot ${v.ref.serviceName}: revision ${v.revision.id}${v.revision.image ? ` (${v.revision.image})` : ''}, ${v.weight}%, ${v.service.runningCount ?? 0}/${desired} running${role ? `, tagged ${role}` : ''}${v.derived ? ', not yet tagged by zdd' : ''}`);
    }
    for (const [arn, w] of snap.foreign) {
      weights[arn] = w;
      notes.push(`target group ${arn} is in the forward action but is not a slot (${w}%)`);
    }
    const sticky = stickinessWarning(snap.actions);
    if (sticky) notes.push(sticky);
    const testRoute = this.capabilities.testRoute ? await this.router.testRoute() : null;
    return { revisions, weights, testRoute, notes };
  }

  /**
   * `zdd down`: remove what zdd added (the header rule) and stop the slot that takes no traffic.
   * The slot serving production stays: zdd did not create the services and never takes a site down.
   */
  async down(): Promise<void> {
    if (this.capabilities.testRoute && (await this.router.testRoute()) !== null) await this.router.setTestRoute(null);
    const snap = await this.slots.refresh();
    const live = stableView(snap.views);
    const r = await this.slots.resolve();
    for (const v of snap.views) {
      if (v === live || v.weight > 0 || (v.service.desiredCount ?? 0) === 0) continue;
      await awsCall(this.clients.ecs, 'ecs', new UpdateServiceCommand({ cluster: r.cluster, service: v.ref.serviceArn, desiredCount: 0 }), `service ${v.ref.serviceName}`);
      await this.slots.tag(v, { [TAG.role]: 'idle' });
    }
    if (live) this.slots.emitInfo(`Slot ${live.ref.serviceName} keeps serving production (${live.weight}%): scale it with the AWS console or CLI if you mean to stop the service`);
  }

  async close(): Promise<void> {
    this.clients.ecs.destroy();
    this.clients.elb.destroy();
  }
}

/** Sticky clients ignore weight changes until their cookie expires: worth a warning when that is long. */
function stickinessWarning(actions: Action[]): string | null {
  const cfg = actions.find((a) => a.Type === 'forward')?.ForwardConfig?.TargetGroupStickinessConfig;
  if (!cfg?.Enabled || (cfg.DurationSeconds ?? 0) <= STICKINESS_WARN_SECONDS) return null;
  return `Target group stickiness is on for ${cfg.DurationSeconds}s: clients with the cookie stay on their slot whatever the weights say, so canary percentages are approximate and a rollback reaches them only after the cookie expires`;
}
