import type { Provider, ProviderCapabilities, ProviderContext, ProviderFactory, ProviderSnapshot } from '../../core/provider.js';
import { haproxyRouterFactory } from '../haproxy/haproxy-router-factory.js';
import type { HaproxyRouter } from '../haproxy/haproxy-router.js';
import type { HaproxyRouterConfig } from '../haproxy/schema.js';
import { HostsPlatform } from './hosts-platform.js';
import type { HostsPlatformConfig } from './schema.js';

/**
 * Until the platform/router registries compose them: the hosts platform with its HAProxy router.
 * (Replaced by the registry lines when the split lands.)
 */
export class HostsProvider implements Provider {
  readonly name = 'hosts';
  readonly capabilities: ProviderCapabilities;
  readonly platform: HostsPlatform;
  readonly router: HaproxyRouter;
  constructor(config: HostsPlatformConfig & { router: HaproxyRouterConfig }, ctx: ProviderContext) {
    const { router: routerConfig, ...platformConfig } = config;
    this.platform = new HostsPlatform(platformConfig, ctx);
    this.router = haproxyRouterFactory.create(routerConfig, { ...ctx, platform: this.platform });
    this.platform.attachRouting(this.router.instanceRouting);
    this.capabilities = { weightedTraffic: true, instantSwitch: true, testRoute: this.router.capabilities.headerRoute, batches: true };
  }
  async preflight(): Promise<void> {
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

export const hostsProvider: ProviderFactory<HostsPlatformConfig & { router: HaproxyRouterConfig }> = {
  create: (config, ctx) => new HostsProvider(config, ctx),
};
