import type { Platform, ProviderContext, RevisionEndpoints } from '../../core/provider.js';
import { HaproxyRouter } from './haproxy-router.js';
import type { HaproxyRouterConfig } from './schema.js';

/** The platform as the router needs it: its instances per revision and the revisions it runs. */
type FrontedPlatform = Pick<Platform, 'endpoints'> & { snapshot(): Promise<{ revisions: { revision: { id: string } }[] }> };

/**
 * Builds the HAProxy router in front of `ctx.platform`. The router asks the platform which
 * instances each revision has (never a copy of its own), and the platform's endpoints gain
 * HAProxy's URL: production checks and hooks go through HAProxy, the test route through its header.
 */
export const haproxyRouterFactory = {
  create(config: HaproxyRouterConfig, ctx: ProviderContext & { platform: FrontedPlatform }): HaproxyRouter {
    const platform = ctx.platform;
    const own = platform.endpoints.bind(platform);
    const router = new HaproxyRouter(config, {
      directory: {
        revisions: async () => (await platform.snapshot()).revisions.map((r) => r.revision.id),
        instanceUrls: async (id) => (await own(id)).instanceUrls ?? [],
      },
      clock: ctx.clock,
      events: ctx.events,
    });
    // Where production and test requests enter is the router's to say, not the platform's.
    platform.endpoints = async (revisionId: string): Promise<RevisionEndpoints> => {
      const base = await own(revisionId);
      const serviceUrl = config.url ?? base.serviceUrl;
      const { testUrl: _t, testHeaders: _h, ...rest } = base;
      const routed = router.testHeaders && serviceUrl && (await router.testRoute().catch(() => null)) === revisionId;
      return { ...rest, ...(serviceUrl ? { serviceUrl } : {}), ...(routed ? { testUrl: serviceUrl, testHeaders: router.testHeaders } : {}) };
    };
    return router;
  },
};
