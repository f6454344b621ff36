import { ProviderError } from '../../core/errors.js';
import type { RevisionTrafficSample, TrafficRouter, WeightMap } from '../../core/provider.js';
import { AdminRequestError } from './admin-client.js';
import type { RouterProcess } from './router-process.js';
import { PROBE_HEADER } from './router-state.js';
import type { RouterStatus, TrafficAnswer } from './router/router-server.js';

/** The TrafficRouter side of the local provider: every call goes to the router process's admin channel. */
export class LocalRouter implements TrafficRouter {
  /**
   * Every answer the router passes on (and every error it makes) carries `x-zdd-revision`; the
   * probe's own requests carry the router's test-route value in `x-zdd-probe`, so its traffic
   * sample (the `router` check) never counts them.
   */
  readonly answerTag = {
    header: 'x-zdd-revision',
    probeHeaders: async (): Promise<Record<string, string>> => {
      const status = await this.call<RouterStatus>('GET', '/state', undefined, 'read its state');
      return { [PROBE_HEADER]: status.state.testValue };
    },
  };

  constructor(private readonly router: RouterProcess) {}

  async setWeights(weights: WeightMap): Promise<void> {
    await this.router.ensureRunning();
    await this.call('PUT', '/weights', { weights }, 'set weights');
  }

  async getWeights(): Promise<WeightMap> {
    const status = await this.call<RouterStatus>('GET', '/state', undefined, 'read weights');
    return { ...status.state.weights };
  }

  async setTestRoute(revisionId: string | null): Promise<void> {
    await this.router.ensureRunning();
    await this.call('PUT', '/test-route', { revision: revisionId }, 'set the test route');
  }

  async trafficSample(revisionIds: string[], windowMs: number): Promise<RevisionTrafficSample[]> {
    const q = new URLSearchParams({ revisions: revisionIds.join(','), windowMs: String(Math.max(0, Math.round(windowMs))) });
    const out = await this.call<TrafficAnswer>('GET', `/traffic?${q}`, undefined, 'read traffic counts');
    // Test-route requests are counted apart: production statistics never include them.
    return out.samples.map((s) => ({ ...s, testRouteRequests: out.testRoute?.find((t) => t.revision === s.revision)?.requests ?? 0 }));
  }

  private async call<T>(method: string, path: string, body: unknown, what: string): Promise<T> {
    try {
      return await this.router.call<T>(method, path, body);
    } catch (e) {
      if (e instanceof AdminRequestError && e.status === 409) {
        throw new ProviderError(`The local router refused to ${what}: ${e.message}`, { changed: false });
      }
      throw new ProviderError(`The local router did not answer (${what}): ${(e as Error).message}`, {
        changed: false,
        hint: `\`zdd status\` tells whether it runs; the next zdd deploy or rollback restarts it from ${this.router.statePath}. Its log: ${this.router.logPath}`,
        cause: e,
      });
    }
  }
}
