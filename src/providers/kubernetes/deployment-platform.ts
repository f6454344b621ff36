import { CheckFailedError, ProviderError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { HealthWaitOptions, Platform, RevisionEndpoints, RevisionSpec, RevisionState } from '../../core/provider.js';
import { InPlaceRoll, previousTemplateOf, rolloutComplete, templateRevisionOf } from './in-place-roll.js';
import { missing, RESOURCES, type KubeApi, type KubeObject } from './kube-api.js';
import { MANAGED_BY, REVISION_LABEL, SERVICE_LABEL, type KubernetesProviderConfig } from './schema.js';

export const DEFAULT_POLL_INTERVAL_MS = 1000;

interface Container {
  name: string;
  image?: string;
  [k: string]: unknown;
}
export interface DeploymentObject extends KubeObject {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string>; [k: string]: unknown };
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[]; [k: string]: unknown } };
    strategy?: unknown;
    paused?: boolean;
    progressDeadlineSeconds?: number;
    [k: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
export interface ServiceObject extends KubeObject {
  spec: { selector?: Record<string, string>; ports?: unknown[]; [k: string]: unknown };
}
interface PodObject extends KubeObject {
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: { name: string; ready?: boolean; restartCount?: number; state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } } }[];
  };
}

/** A label value (revision ids are shown to people and stored as labels): at most 63 characters. */
const LABEL_VALUE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/**
 * Revisions as Deployments. The user's Deployment is the template and the first stable (its pod
 * template's zdd.dev/revision names it); every other revision is a copy zdd creates,
 * `<deployment>-<revision>`, differing in the image and the revision label, labelled as zdd's.
 * zdd deletes only what it created; the user's Deployment is at most scaled.
 */
export class DeploymentPlatform implements Platform {
  readonly name = 'kubernetes';
  readonly capabilities = { batches: true, scaleToZero: true, surge: true };
  private template: DeploymentObject | null = null;
  /** The header that reaches the candidate through the router's test route (set by the provider when its router has one). */
  testHeaders?: Record<string, string>;
  /** Set when revisions roll in place through the user's Deployment (router `service` selecting all its pods). */
  readonly inPlace?: InPlaceRoll;
  /** In a roll in place: the new pods the current batch waits for (undefined: all of them). */
  private waveTarget?: number;

  constructor(
    private readonly api: KubeApi,
    private readonly config: KubernetesProviderConfig,
    private readonly service: string,
    private readonly clock: Clock,
    /** Weighted routers reach each revision through its own Service, `<base>-<revision>`, created here. */
    private readonly revisionServiceBase?: string,
    rollInPlace = false,
  ) {
    if (rollInPlace) this.inPlace = new InPlaceRoll(api, config.deployment, config.pollInterval ?? DEFAULT_POLL_INTERVAL_MS);
  }

  /** The container whose image a revision replaces (undefined: the first). */
  get containerName(): string | undefined {
    return this.config.container;
  }

  private get pollMs(): number {
    return this.config.pollInterval ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /** The user's Deployment, with its revision label checked (read once per command). */
  async templateDeployment(): Promise<DeploymentObject> {
    if (this.template) return this.template;
    const d = await this.api.get<DeploymentObject>(RESOURCES.deployment, this.config.deployment);
    if (!d) throw missing(RESOURCES.deployment, this.config.deployment, this.api.namespace, 'Apply your Deployment first (docs/kubernetes.md shows one), or fix provider.deployment.');
    const rev = d.spec.template.metadata?.labels?.[REVISION_LABEL];
    if (!rev) {
      throw new ProviderError(`Deployment "${this.config.deployment}" has no ${REVISION_LABEL} label on its pod template`, {
        code: 'kube-template-label',
        hint: `Add \`${REVISION_LABEL}: <the version it runs>\` to spec.template.metadata.labels (and to its Service's selector): zdd tells revisions apart by it.`,
      });
    }
    if (!this.containerOf(d)) {
      throw new ProviderError(`Deployment "${this.config.deployment}" has no container "${this.config.container}"`, { code: 'kube-container', hint: `Containers: ${d.spec.template.spec.containers.map((c) => c.name).join(', ')}. Fix provider.container.` });
    }
    this.template = d;
    return d;
  }

  /** The revision the user's Deployment runs. */
  async templateRevision(): Promise<string> {
    return (await this.templateDeployment()).spec.template.metadata!.labels![REVISION_LABEL];
  }

  /** The name of `revisionId`'s Deployment. */
  async deploymentName(revisionId: string): Promise<string> {
    if (this.inPlace) return this.config.deployment;
    return revisionId === (await this.templateRevision()) ? this.config.deployment : ownName(this.config.deployment, revisionId);
  }

  /** Name of the Service that reaches only `revisionId`'s pods (weighted routers). */
  async revisionServiceName(revisionId: string, base: string): Promise<string> {
    return revisionId === (await this.templateRevision()) ? base : ownName(base, revisionId);
  }

  async provision(revision: RevisionSpec, replicas: number): Promise<void> {
    checkRevisionId(revision.id);
    if (this.inPlace) return this.provisionInPlace(this.inPlace, revision, replicas);
    const name = await this.deploymentName(revision.id);
    if (name === this.config.deployment) {
      await this.setReplicas(name, replicas);
    } else {
      const created = await this.api.create<DeploymentObject>(RESOURCES.deployment, await this.revisionDeployment(revision, replicas));
      if (!created) {
        const existing = await this.api.get<DeploymentObject>(RESOURCES.deployment, name);
        if (existing) this.checkOwned(existing);
        await this.setReplicas(name, replicas);
      }
    }
    if (this.revisionServiceBase) await this.ensureRevisionService(revision.id, this.revisionServiceBase);
  }

  async scale(revisionId: string, replicas: number, opts: { drainMs: number }): Promise<void> {
    if (this.inPlace) {
      const d = await this.inPlace.read();
      // The old ReplicaSet shrinks as the controller grows the new one: nothing for zdd to write.
      if (templateRevisionOf(d.spec.template) !== revisionId) return;
      if (previousTemplateOf(d) && !rolloutComplete(d)) {
        this.waveTarget = replicas;
        return this.inPlace.advanceTo(replicas);
      }
    }
    const name = await this.deploymentName(revisionId);
    const d = await this.api.get<DeploymentObject>(RESOURCES.deployment, name);
    if (!d) throw missing(RESOURCES.deployment, name, this.api.namespace);
    // Kubernetes takes removed pods out of the Service endpoints and gives them their grace period;
    // drainMs is zdd's own wait before it asks.
    if (replicas < (d.spec.replicas ?? 1) && opts.drainMs > 0) await this.clock.sleep(opts.drainMs);
    await this.setReplicas(name, replicas);
  }

  async waitHealthy(revisionId: string, opts: HealthWaitOptions): Promise<void> {
    const name = await this.deploymentName(revisionId);
    const deadline = Date.now() + opts.timeoutMs;
    for (let round = 0; ; round++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const d = await this.api.get<DeploymentObject>(RESOURCES.deployment, name);
      if (!d) throw new CheckFailedError(`Deployment ${name} (revision ${revisionId}) is gone`);
      // In place, only the pods of the template's revision count; the old ReplicaSet's are as they were.
      const onlyRevision = this.inPlace ? revisionId : undefined;
      if (onlyRevision && templateRevisionOf(d.spec.template) !== revisionId) return;
      const fullSize = d.spec.replicas ?? 1;
      const want = onlyRevision ? Math.min(this.waveTarget ?? fullSize, fullSize) : fullSize;
      const st = d.status ?? {};
      const progressing = st.conditions?.find((c) => c.type === 'Progressing');
      if (want < fullSize) {
        const ready = await this.podProblems(d, onlyRevision);
        if (ready.ready >= want) return;
      } else if (
        (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        (st.updatedReplicas ?? 0) >= want &&
        (st.availableReplicas ?? 0) >= want &&
        (st.replicas ?? 0) <= want &&
        progressing?.status !== 'False' &&
        !d.spec.paused
      ) {
        return;
      }
      const deadlineExceeded = progressing?.reason === 'ProgressDeadlineExceeded';
      // Pods are read only while waiting (not on the first, usually ready, poll).
      const pods = round > 0 || deadlineExceeded ? await this.podProblems(d, onlyRevision) : { lines: [], crashLooping: false, ready: 0 };
      if (deadlineExceeded || pods.crashLooping || Date.now() >= deadline) {
        const why = deadlineExceeded ? `ProgressDeadlineExceeded (${progressing?.message ?? 'no progress'})` : pods.crashLooping ? 'a container is crash-looping' : `not ready within ${Math.round(opts.timeoutMs / 1000)}s`;
        throw new CheckFailedError(
          `Deployment ${name} (revision ${revisionId}): ${why}; ${st.availableReplicas ?? 0}/${want} available, ${st.updatedReplicas ?? 0} updated${pods.lines.length ? `. Pods: ${pods.lines.join('; ')}` : ''}`,
          `Look at the pods: kubectl -n ${this.api.namespace} describe pods -l ${REVISION_LABEL}=${revisionId}`,
        );
      }
      await sleep(Math.min(this.pollMs, Math.max(1, deadline - Date.now())), opts.signal);
    }
  }

  async retire(revisionId: string, opts: { drainMs: number }): Promise<void> {
    // In place, a revision other than the template's is an old ReplicaSet the controller has emptied.
    if (this.inPlace && templateRevisionOf((await this.inPlace.read()).spec.template) !== revisionId) return;
    const name = await this.deploymentName(revisionId);
    if (opts.drainMs > 0) await this.clock.sleep(opts.drainMs);
    const d = await this.api.get<DeploymentObject>(RESOURCES.deployment, name);
    if (d && (d.spec.replicas ?? 1) > 0) await this.setReplicas(name, 0);
    if (d && name !== this.config.deployment && isOwned(d, this.service)) await this.api.delete(RESOURCES.deployment, name);
    if (this.revisionServiceBase) {
      const svcName = await this.revisionServiceName(revisionId, this.revisionServiceBase);
      const svc = svcName === this.revisionServiceBase ? null : await this.api.get<ServiceObject>(RESOURCES.service, svcName);
      if (svc && isOwned(svc, this.service)) await this.api.delete(RESOURCES.service, svcName);
    }
  }

  async endpoints(revisionId: string): Promise<RevisionEndpoints> {
    void revisionId;
    const url = this.config.url;
    return { ...(url ? { serviceUrl: url } : {}), ...(this.testHeaders ? { testHeaders: this.testHeaders, ...(url ? { testUrl: url } : {}) } : {}) };
  }

  /** Every revision's Deployment (the user's and zdd's), as it stands. */
  async revisions(): Promise<RevisionState[]> {
    const template = await this.templateDeployment();
    const own = await this.api.list<DeploymentObject>(RESOURCES.deployment, `${SERVICE_LABEL}=${this.service}`);
    const out: RevisionState[] = [];
    for (const d of [template, ...own.filter((o) => o.metadata.name !== template.metadata.name)]) {
      const id = d.spec.template.metadata?.labels?.[REVISION_LABEL];
      if (!id) continue;
      const desired = d.spec.replicas ?? 1;
      if (d === template && desired === 0) continue;
      out.push({ revision: { id, image: this.containerOf(d)?.image }, desired, healthy: d.status?.readyReplicas ?? 0 });
    }
    return out;
  }

  private containerOf(d: DeploymentObject): Container | undefined {
    const cs = d.spec.template.spec.containers ?? [];
    return this.config.container ? cs.find((c) => c.name === this.config.container) : cs[0];
  }

  private async revisionDeployment(revision: RevisionSpec, replicas: number): Promise<KubeObject> {
    const t = await this.templateDeployment();
    const spec = structuredClone(t.spec);
    const container = this.config.container ? spec.template.spec.containers.find((c) => c.name === this.config.container)! : spec.template.spec.containers[0];
    if (!revision.image) throw new ProviderError(`Revision ${revision.id} has no image`, { code: 'kube-no-image', hint: 'Pass --image, or set provider.image to a template with {{revision}}.' });
    container.image = revision.image;
    spec.replicas = replicas;
    spec.selector = { ...spec.selector, matchLabels: { ...spec.selector.matchLabels, [REVISION_LABEL]: revision.id } };
    spec.template.metadata = { ...spec.template.metadata, labels: { ...spec.template.metadata?.labels, [REVISION_LABEL]: revision.id } };
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: ownName(this.config.deployment, revision.id),
        labels: { ...t.metadata.labels, ...MANAGED_BY, [SERVICE_LABEL]: this.service, [REVISION_LABEL]: revision.id },
        annotations: { 'zdd.dev/template': this.config.deployment },
      },
      spec,
    };
  }

  private async ensureRevisionService(revisionId: string, base: string): Promise<void> {
    const name = await this.revisionServiceName(revisionId, base);
    if (name === base) return;
    const existing = await this.api.get<ServiceObject>(RESOURCES.service, name);
    if (existing) {
      this.checkOwned(existing);
      return;
    }
    const baseSvc = await this.api.get<ServiceObject>(RESOURCES.service, base);
    if (!baseSvc) throw missing(RESOURCES.service, base, this.api.namespace);
    const ports = (baseSvc.spec.ports ?? []).map((p) => {
      const { nodePort: _nodePort, ...rest } = p as Record<string, unknown>;
      return rest;
    });
    await this.api.create(RESOURCES.service, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels: { ...MANAGED_BY, [SERVICE_LABEL]: this.service, [REVISION_LABEL]: revisionId } },
      spec: { selector: { ...baseSvc.spec.selector, [REVISION_LABEL]: revisionId }, ports },
    });
  }

  /**
   * Roll the one Deployment to `revision` (or back to it): its template is written, the rollout runs
   * until the new ReplicaSet has `replicas` pods, and holds there (paused) unless that is all of them.
   */
  private async provisionInPlace(roll: InPlaceRoll, revision: RevisionSpec, replicas: number): Promise<void> {
    const d = await roll.read();
    if (templateRevisionOf(d.spec.template) === revision.id && !previousTemplateOf(d)) {
      this.waveTarget = undefined;
      return this.setReplicas(this.config.deployment, replicas);
    }
    const full = d.spec.replicas ?? 1;
    this.waveTarget = Math.min(replicas, full);
    await roll.setTemplate(revision, { batch: this.waveTarget, paused: true, container: this.config.container });
    await roll.advanceTo(this.waveTarget);
  }

  /** Before production goes back to (or on to) `revisionId` alone in place: the whole Deployment runs it, rollout finished. */
  async finishInPlace(revision: RevisionSpec, timeoutMs: number): Promise<void> {
    const roll = this.inPlace!;
    const d = await roll.read();
    if (templateRevisionOf(d.spec.template) !== revision.id) await roll.setTemplate(revision, { batch: d.spec.replicas ?? 1, paused: false, container: this.config.container });
    else await roll.setPaused(false);
    this.waveTarget = undefined;
    await this.waitHealthy(revision.id, { timeoutMs });
  }

  private async setReplicas(name: string, replicas: number): Promise<void> {
    await this.api.update<DeploymentObject>(RESOURCES.deployment, name, (d) => {
      if (d.spec.replicas === replicas) return null;
      d.spec.replicas = replicas;
      return d;
    });
  }

  private checkOwned(obj: KubeObject): void {
    if (!isOwned(obj, this.service)) {
      throw new ProviderError(`${obj.kind ?? 'Object'} "${obj.metadata.name}" exists in namespace ${this.api.namespace} but was not created by zdd for service "${this.service}" (no ${SERVICE_LABEL}=${this.service} label): zdd leaves it alone`, {
        code: 'kube-not-owned',
        hint: 'Rename or remove it, or deploy under another revision id.',
      });
    }
  }

  /** What is wrong with the revision's pods, in words (conditions, waiting reasons, restarts). */
  private async podProblems(d: DeploymentObject, revisionId?: string): Promise<{ lines: string[]; crashLooping: boolean; ready: number }> {
    const labels = { ...d.spec.selector.matchLabels, ...(revisionId ? { [REVISION_LABEL]: revisionId } : {}) };
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await this.api.list<PodObject>(RESOURCES.pod, selector);
    const lines: string[] = [];
    let crashLooping = false;
    let readyPods = 0;
    for (const p of pods) {
      if (p.metadata.deletionTimestamp) continue;
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') {
        readyPods++;
        continue;
      }
      const bits: string[] = [`${p.metadata.name} ${p.status?.phase ?? 'Pending'}`];
      if (ready) bits.push(`not ready${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`);
      for (const c of p.status?.containerStatuses ?? []) {
        const waiting = c.state?.waiting;
        if (waiting?.reason) bits.push(`container ${c.name} waiting: ${waiting.reason}`);
        if ((c.restartCount ?? 0) > 0) bits.push(`${c.restartCount} restarts`);
        if (waiting?.reason === 'CrashLoopBackOff' || (c.restartCount ?? 0) >= 3) crashLooping = true;
      }
      lines.push(bits.join(', '));
    }
    return { lines: lines.slice(0, 5), crashLooping, ready: readyPods };
  }
}

/** The name of an object zdd creates for `revisionId` beside `base`. */
export function ownName(base: string, revisionId: string): string {
  const slug = revisionId.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return `${base}-${slug}`.slice(0, 63).replace(/-+$/, '');
}

export function isOwned(obj: KubeObject, service: string): boolean {
  return obj.metadata.labels?.['app.kubernetes.io/managed-by'] === 'zdd' && obj.metadata.labels?.[SERVICE_LABEL] === service;
}

function checkRevisionId(id: string): void {
  if (!LABEL_VALUE.test(id)) {
    throw new ProviderError(`Revision id "${id}" cannot be a Kubernetes label value`, { code: 'kube-revision-id', hint: 'Use at most 63 letters, digits, ".", "-" or "_", starting and ending with a letter or digit.' });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
