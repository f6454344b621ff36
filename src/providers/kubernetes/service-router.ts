import { ProviderError, TrafficMismatchError } from '../../core/errors.js';
import type { TrafficRouter, WeightMap } from '../../core/provider.js';
import { formatWeights, nonZero } from '../../core/weights.js';
import type { DeploymentPlatform, ServiceObject } from './deployment-platform.js';
import { previousTemplateOf, ROLL_WEIGHTS, rolloutComplete, templateRevisionOf } from './in-place-roll.js';
import { missing, RESOURCES, type KubeApi } from './kube-api.js';
import { REVISION_LABEL, type ServiceRouterConfig } from './schema.js';

/**
 * Blue-green by a Service selector: the `zdd.dev/revision` key of the production Service's selector
 * names the one revision that gets traffic, switched in one write (instant, no weights in between).
 * An optional preview Service is pointed at the candidate for smoke tests (the test route).
 * zdd edits only that one selector key; everything else in the Services is the user's.
 */
export class ServiceRouter implements TrafficRouter {
  readonly name = 'service';
  readonly capabilities = { weights: false as const, instantSwitch: true, headerRoute: false, testListener: true, trafficSample: false, mirror: false };
  readonly service: string;

  constructor(
    private readonly api: KubeApi,
    private readonly config: ServiceRouterConfig,
    private readonly platform: DeploymentPlatform,
    deployment: string,
  ) {
    this.service = config.service ?? deployment;
  }

  get hasTestRoute(): boolean {
    return this.config.previewService !== undefined;
  }

  async preflight(): Promise<void> {
    if (this.platform.inPlace) return this.preflightInPlace();
    await this.revisionOf(this.service);
    if (this.config.previewService) await this.revisionOf(this.config.previewService);
  }

  async getWeights(): Promise<WeightMap> {
    if (this.platform.inPlace) return this.weightsInPlace();
    return { [await this.revisionOf(this.service)]: 100 };
  }

  async setWeights(weights: WeightMap): Promise<void> {
    const live = Object.entries(nonZero(weights));
    if (this.platform.inPlace && live.length === 2) return this.recordSplit(weights);
    if (live.length !== 1 || live[0][1] !== 100) {
      throw new ProviderError(`The service router sends all traffic to one revision; it cannot split ${formatWeights(weights)}`, {
        code: 'kube-no-weights',
        changed: false,
        hint: 'Use blue-green with router type "service", or choose router "istio" or "gateway-api" for canary weights.',
      });
    }
    const target = live[0][0];
    if (this.platform.inPlace) {
      await this.finishInPlace(target);
      const back = await this.getWeights();
      if (back[target] !== 100) throw new TrafficMismatchError(`Deployment ${this.platform.inPlace.deployment} reports ${formatWeights(back)} after zdd rolled it to ${target}`);
      return;
    }
    await this.point(this.service, target);
    const back = await this.getWeights();
    if (back[target] !== 100) throw new TrafficMismatchError(`Service ${this.service} selects ${formatWeights(back)} after zdd pointed it at ${target}`);
  }

  /** The preview Service selects the candidate; null points it back at production's revision. */
  async setTestRoute(revisionId: string | null): Promise<void> {
    if (!this.config.previewService) throw new ProviderError('No preview Service is configured (router.previewService)', { code: 'kube-no-preview' });
    const target = revisionId ?? (await this.revisionOf(this.service));
    await this.point(this.config.previewService, target);
    if ((await this.revisionOf(this.config.previewService)) !== target) throw new TrafficMismatchError(`Service ${this.config.previewService} does not select ${target} after zdd pointed it there`);
  }

  /** Which revision the preview Service selects, or null when it matches production. */
  async testRoute(): Promise<string | null> {
    if (!this.config.previewService) return null;
    const [preview, prod] = [await this.revisionOf(this.config.previewService), await this.revisionOf(this.service)];
    return preview === prod ? null : preview;
  }

  /**
   * Rolling in place: the Service selects every ready pod of the Deployment, so production follows
   * the ReplicaSets' ready pods. A split is accepted while both revisions have ready pods and is
   * recorded on the Deployment (ROLL_WEIGHTS) as the split the plan has reached.
   */
  private async recordSplit(weights: WeightMap): Promise<void> {
    const roll = this.platform.inPlace!;
    const d = await roll.read();
    const current = templateRevisionOf(d.spec.template);
    const previous = templateRevisionOf(previousTemplateOf(d) ?? d.spec.template);
    for (const id of Object.keys(nonZero(weights))) {
      if (id !== current && id !== previous) {
        throw new ProviderError(`Deployment ${roll.deployment} runs ${current}${previous !== current ? ` and ${previous}` : ''}, not ${id}: the service router cannot give it ${weights[id]}%`, { code: 'kube-no-weights', changed: false });
      }
    }
    if ((d.status?.updatedReplicas ?? 0) === 0 || (d.status?.availableReplicas ?? 0) === 0) {
      throw new ProviderError(`Deployment ${roll.deployment} has no ready pods of ${current} yet; zdd cannot give it ${weights[current!] ?? 0}%`, { code: 'kube-not-ready', changed: false });
    }
    await roll.recordWeights(nonZero(weights));
  }

  /** The whole Deployment on `revisionId`, rollout finished, with its weight recorded. */
  private async finishInPlace(revisionId: string): Promise<void> {
    const roll = this.platform.inPlace!;
    const d = await roll.read();
    const previous = previousTemplateOf(d);
    const image = (t: typeof d.spec.template | null) => t?.spec.containers.find((c) => c.name === this.platform.containerName)?.image ?? t?.spec.containers[0]?.image;
    const source = templateRevisionOf(d.spec.template) === revisionId ? d.spec.template : previous && templateRevisionOf(previous) === revisionId ? previous : null;
    if (!source) {
      throw new ProviderError(`Deployment ${roll.deployment} holds no template of revision ${revisionId} (it runs ${templateRevisionOf(d.spec.template)}, and before that ${previous ? templateRevisionOf(previous) : 'nothing zdd recorded'})`, {
        code: 'kube-no-template',
        hint: `Deploy ${revisionId} again with \`zdd deploy --revision ${revisionId}\`, or put it back by hand: kubectl -n ${this.api.namespace} rollout undo deployment/${roll.deployment}`,
      });
    }
    const timeoutMs = ((d.spec.progressDeadlineSeconds ?? 600) + 30) * 1000;
    await this.platform.finishInPlace({ id: revisionId, image: image(source) }, timeoutMs);
    await roll.recordWeights({ [revisionId]: 100 });
  }

  /** The split recorded for the roll, when it matches what the Deployment holds; otherwise the template's revision alone. */
  private async weightsInPlace(): Promise<WeightMap> {
    const d = await this.platform.inPlace!.read();
    const current = templateRevisionOf(d.spec.template)!;
    const previous = templateRevisionOf(previousTemplateOf(d) ?? d.spec.template);
    let recorded: WeightMap | null = null;
    try {
      recorded = JSON.parse(d.metadata.annotations?.[ROLL_WEIGHTS] ?? 'null') as WeightMap | null;
    } catch {
      recorded = null;
    }
    const known = recorded && Object.keys(recorded).every((id) => id === current || id === previous);
    // A revision alone on production is true only when the template is its own.
    const alone = recorded && Object.entries(recorded).find(([, w]) => w === 100)?.[0];
    if (!recorded || !known || (alone && alone !== current)) return { [current]: 100 };
    // 100% on the template's revision is true only once the rollout has finished.
    if (recorded[current] === 100 && !rolloutComplete(d)) return { ...(previous !== current ? { [previous!]: 0 } : {}), [current]: 0 };
    return recorded;
  }

  private async preflightInPlace(): Promise<void> {
    const svc = await this.api.get<ServiceObject>(RESOURCES.service, this.service);
    if (!svc) throw missing(RESOURCES.service, this.service, this.api.namespace);
    const d = await this.platform.inPlace!.read();
    if (d.spec.selector.matchLabels?.[REVISION_LABEL]) {
      throw new ProviderError(`Deployment "${d.metadata.name}" has ${REVISION_LABEL} in its selector, but Service "${this.service}" selects all its pods: rolling in place changes that label, which a Deployment's selector must not hold`, {
        code: 'kube-selector',
        hint: `Either add \`${REVISION_LABEL}\` to Service ${this.service}'s selector (blue-green by selector switch), or recreate the Deployment with a selector without it (rolling in place; docs/kubernetes.md).`,
      });
    }
  }

  private async point(serviceName: string, revisionId: string): Promise<void> {
    // Selecting pods of a revision the platform does not know would send traffic nowhere.
    await this.platform.deploymentName(revisionId);
    await this.api.update<ServiceObject>(RESOURCES.service, serviceName, (svc) => {
      if (svc.spec.selector?.[REVISION_LABEL] === revisionId) return null;
      svc.spec.selector = { ...svc.spec.selector, [REVISION_LABEL]: revisionId };
      return svc;
    });
  }

  private async revisionOf(serviceName: string): Promise<string> {
    const svc = await this.api.get<ServiceObject>(RESOURCES.service, serviceName);
    if (!svc) throw missing(RESOURCES.service, serviceName, this.api.namespace);
    const rev = svc.spec.selector?.[REVISION_LABEL];
    if (!rev) {
      throw new ProviderError(`Service "${serviceName}" has no ${REVISION_LABEL} key in its selector: zdd cannot tell which revision it serves`, {
        code: 'kube-selector',
        hint: `Add \`${REVISION_LABEL}: <the revision it serves now>\` to its spec.selector (the same label your Deployment's pod template carries).`,
      });
    }
    return rev;
  }
}
