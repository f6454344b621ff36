import type { Platform, PlatformCapabilities, Provider, ProviderCapabilities, ProviderContext, ProviderFactory, ProviderSnapshot, RevisionState, RouterCapabilities, TrafficRouter } from '../core/provider.js';
import type { InstanceRouting } from './hosts/hosts-platform.js';

/** A platform a fronting router can stand in front of: it tells the router when instances come and go. */
export interface FrontablePlatform extends Platform {
  attachRouting(routing: InstanceRouting): void;
  snapshot(): Promise<{ revisions: RevisionState[]; notes: string[] }>;
  down(): Promise<void>;
  /** Checks before anything changes (exit 2 or 5). */
  preflight?(): Promise<void>;
}

/** Builds a frontable platform from its part of `provider` (without `router`). */
export interface FrontablePlatformFactory {
  create(config: any, ctx: ProviderContext): FrontablePlatform;
}

/** A router that fronts any frontable platform (HAProxy): it reads each revision's instances from the platform. */
export interface FrontingRouter extends TrafficRouter {
  readonly capabilities: Omit<RouterCapabilities, 'answerTag'> & Record<string, unknown>;
  readonly instanceRouting: InstanceRouting;
  preflight(): Promise<void>;
  testRoute(): Promise<string | null>;
  snapshot(): Promise<{ weights: Record<string, number>; testRoute?: string | null; notes: string[] }>;
  down(): Promise<void>;
  close(): Promise<void>;
}

export interface FrontingRouterFactory {
  create(config: any, ctx: ProviderContext & { platform: FrontablePlatform }): FrontingRouter;
}

/** How to build one platform+router pair: the platform's own provider, or a frontable platform behind a fronting router. */
export type PairLoader =
  | { kind: 'own'; loadProvider(): Promise<ProviderFactory<any>> }
  | { kind: 'fronting'; loadPlatform(): Promise<FrontablePlatformFactory>; loadRouter(): Promise<FrontingRouterFactory>; platformCapabilities: PlatformCapabilities };

/**
 * The one place a platform and a router become a provider. A router of kind `own` is built by its
 * platform's provider (they share state); a fronting router is wired to the platform here: the
 * platform tells it when instances come and go, it asks the platform which instances a revision has.
 */
export async function composeProvider(pair: { platform: string; router: string }, loader: PairLoader, config: { router?: unknown } & Record<string, unknown>, ctx: ProviderContext): Promise<Provider> {
  if (loader.kind === 'own') {
    const provider = await (await loader.loadProvider()).create(config, ctx);
    if (provider.pair?.router !== pair.router) throw new Error(`provider "${pair.platform}" built router "${provider.pair?.router ?? '?'}" where the config asks for "${pair.router}" (a bug in its registry entry)`);
    return provider;
  }
  const { router: routerConfig, ...platformConfig } = config;
  const [platformFactory, routerFactory] = await Promise.all([loader.loadPlatform(), loader.loadRouter()]);
  const platform = platformFactory.create(platformConfig, ctx);
  const router = routerFactory.create(routerConfig, { ...ctx, platform });
  platform.attachRouting(router.instanceRouting);
  return new FrontedProvider(pair, platform, router, loader.platformCapabilities);
}

/** A frontable platform behind a fronting router (local + haproxy, hosts + haproxy). */
export class FrontedProvider implements Provider {
  readonly name: string;
  readonly capabilities: ProviderCapabilities;
  constructor(
    readonly pair: { platform: string; router: string },
    readonly platform: FrontablePlatform,
    readonly router: FrontingRouter,
    platformCapabilities: PlatformCapabilities,
  ) {
    this.name = pair.platform;
    const r = router.capabilities;
    this.capabilities = { weightedTraffic: r.weights !== false, instantSwitch: r.instantSwitch, testRoute: r.headerRoute || r.testListener, batches: platformCapabilities.batches };
  }
  async preflight(): Promise<void> {
    await this.platform.preflight?.();
    await this.router.preflight();
  }
  async snapshot(): Promise<ProviderSnapshot> {
    const plat = await this.platform.snapshot();
    const route = await this.router.snapshot();
    return { revisions: plat.revisions, weights: route.weights, ...(route.testRoute !== undefined ? { testRoute: route.testRoute } : {}), notes: [...plat.notes, ...route.notes] };
  }
  async down(): Promise<void> {
    await this.router.down();
    await this.platform.down();
  }
  async close(): Promise<void> {
    await this.router.close();
  }
}
