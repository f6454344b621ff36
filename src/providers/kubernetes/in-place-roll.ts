import { ProviderError } from '../../core/errors.js';
import type { RevisionSpec, WeightMap } from '../../core/provider.js';
import type { DeploymentObject } from './deployment-platform.js';
import { missing, RESOURCES, type KubeApi } from './kube-api.js';
import { REVISION_LABEL } from './schema.js';

/** Annotation holding the pod template the roll started from (JSON): what a rollback writes back. */
export const PREVIOUS_TEMPLATE = 'zdd.dev/previous-template';
/** Annotation holding the split zdd's plan has reached in a roll (JSON weight map), for the router's read-back. */
export const ROLL_WEIGHTS = 'zdd.dev/weights';

type PodTemplate = DeploymentObject['spec']['template'];

/** The RollingUpdate a roll in place writes for a batch of `batch` new pods: never a pod removed before its replacement is ready. */
export function inPlaceRollingUpdate(batch: number): { maxSurge: number; maxUnavailable: 0 } {
  return { maxSurge: Math.max(1, batch), maxUnavailable: 0 };
}

/** The revision a pod template runs (its zdd.dev/revision label). */
export function templateRevisionOf(template: PodTemplate): string | undefined {
  return template.metadata?.labels?.[REVISION_LABEL];
}

/** The template the roll in `d` started from, when zdd is rolling it (or rolled it last). */
export function previousTemplateOf(d: DeploymentObject): PodTemplate | null {
  const raw = d.metadata.annotations?.[PREVIOUS_TEMPLATE];
  if (!raw) return null;
  try {
    return JSON.parse(raw) as PodTemplate;
  } catch {
    return null;
  }
}

/**
 * Rolling through the Deployment's own RollingUpdate (router `service` whose Service selects every
 * pod of the Deployment). zdd writes the new template (image + zdd.dev/revision) with the previous
 * one kept in an annotation, and paces the controller with `spec.paused`: it lets the rollout run
 * until the new ReplicaSet has the batch the plan asks for, then pauses it while zdd's checks run.
 * Going back puts the previous template back (as `kubectl rollout undo` would) in one write carrying
 * the resourceVersion read, and the controller scales the old ReplicaSet up again.
 */
export class InPlaceRoll {
  constructor(
    private readonly api: KubeApi,
    readonly deployment: string,
    private readonly pollMs: number,
  ) {}

  async read(): Promise<DeploymentObject> {
    const d = await this.api.get<DeploymentObject>(RESOURCES.deployment, this.deployment);
    if (!d) throw missing(RESOURCES.deployment, this.deployment, this.api.namespace);
    return d;
  }

  /**
   * Make the template run `revision`. The previous template is put back when it is that revision's;
   * otherwise the current template is copied with the new image and label, and the current one is
   * kept as the previous. `batch` bounds the new pods the controller may add at once (maxSurge,
   * maxUnavailable 0); `paused` holds the rollout where it is.
   */
  async setTemplate(revision: RevisionSpec, opts: { batch: number; paused: boolean; container?: string }): Promise<DeploymentObject> {
    return this.api.update<DeploymentObject>(RESOURCES.deployment, this.deployment, (d) => {
      const current = templateRevisionOf(d.spec.template);
      const previous = previousTemplateOf(d);
      const annotations = { ...d.metadata.annotations };
      if (current !== revision.id) {
        if (previous && templateRevisionOf(previous) === revision.id) {
          // Going back: the previous template, as it was (the old ReplicaSet's pod-template-hash matches again).
          d.spec.template = previous;
        } else {
          if (!revision.image) throw new ProviderError(`zdd has no image for revision ${revision.id} to roll Deployment ${this.deployment} to`, { code: 'kube-no-image' });
          annotations[PREVIOUS_TEMPLATE] = JSON.stringify(d.spec.template);
          const next = structuredClone(d.spec.template);
          next.metadata = { ...next.metadata, labels: { ...next.metadata?.labels, [REVISION_LABEL]: revision.id } };
          const c = next.spec.containers.find((x) => x.name === opts.container) ?? next.spec.containers[0];
          c.image = revision.image;
          d.spec.template = next;
        }
        // Until a shift says otherwise, production is where it was: on the revision being replaced.
        annotations[ROLL_WEIGHTS] = JSON.stringify({ [current ?? '']: 100 });
      }
      d.metadata.annotations = annotations;
      d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: inPlaceRollingUpdate(opts.batch) };
      d.spec.paused = opts.paused;
      return d;
    });
  }

  /**
   * Let the rollout run until the new ReplicaSet has `target` pods, then pause it (zdd's checks run
   * while it holds). The controller adds at most maxSurge pods before the new ones are ready, so
   * the overshoot of a pause that comes late is bounded by maxSurge. A `target` of the full size
   * leaves the rollout running to its end.
   */
  async advanceTo(target: number, signal?: AbortSignal): Promise<void> {
    const d = await this.read();
    const replicas = d.spec.replicas ?? 1;
    const finish = target >= replicas;
    if ((d.status?.updatedReplicas ?? 0) >= target && d.status?.observedGeneration === d.metadata.generation && !finish) return;
    await this.setPaused(false);
    if (finish) return;
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const now = await this.read();
      if ((now.status?.observedGeneration ?? 0) >= (now.metadata.generation ?? 0) && (now.status?.updatedReplicas ?? 0) >= target) break;
      // Read often: the pause should land before the batch's pods are ready (later, the controller
      // may have started the next maxSurge pods).
      await new Promise((r) => setTimeout(r, Math.min(this.pollMs, 25)));
    }
    await this.setPaused(true);
  }

  async setPaused(paused: boolean): Promise<void> {
    await this.api.update<DeploymentObject>(RESOURCES.deployment, this.deployment, (d) => {
      if ((d.spec.paused ?? false) === paused) return null;
      d.spec.paused = paused;
      return d;
    });
  }

  /** Record the split the plan has reached; the read-back checks it against the ReplicaSets. */
  async recordWeights(weights: WeightMap): Promise<void> {
    await this.api.update<DeploymentObject>(RESOURCES.deployment, this.deployment, (d) => {
      const value = JSON.stringify(weights);
      if (d.metadata.annotations?.[ROLL_WEIGHTS] === value) return null;
      d.metadata.annotations = { ...d.metadata.annotations, [ROLL_WEIGHTS]: value };
      return d;
    });
  }
}

/**
 * A rollout that has finished: every replica on the template, nothing older left, not paused.
 * observedGeneration is not asked: a Deployment's generation also grows with its annotations
 * (zdd's recorded split), and the counts alone tell that no older pod is left.
 */
export function rolloutComplete(d: DeploymentObject): boolean {
  const want = d.spec.replicas ?? 1;
  const st = d.status ?? {};
  return (
    !d.spec.paused &&
    (st.updatedReplicas ?? 0) >= want &&
    (st.availableReplicas ?? 0) >= want &&
    (st.replicas ?? 0) <= want
  );
}
