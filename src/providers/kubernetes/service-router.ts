import { ProviderError, TrafficMismatchError } from '../../core/errors.js';
import type { TrafficRouter, WeightMap } from '../../core/provider.js';
import { formatWeights, nonZero } from '../../core/weights.js';
import type { DeploymentPlatform, ServiceObject } from './deployment-platform.js';
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
    await this.revisionOf(this.service);
    if (this.config.previewService) await this.revisionOf(this.config.previewService);
  }

  async getWeights(): Promise<WeightMap> {
    return { [await this.revisionOf(this.service)]: 100 };
  }

  async setWeights(weights: WeightMap): Promise<void> {
    const live = Object.entries(nonZero(weights));
    if (live.length !== 1 || live[0][1] !== 100) {
      throw new ProviderError(`The service router sends all traffic to one revision; it cannot split ${formatWeights(weights)}`, {
        code: 'kube-no-weights',
        changed: false,
        hint: 'Use blue-green with router type "service", or choose router "istio" or "gateway-api" for canary weights.',
      });
    }
    const target = live[0][0];
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
