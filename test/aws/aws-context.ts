import type { Clock } from '../../src/core/clock.js';
import { FakeClock } from '../../src/core/clock.js';
import type { ZddEvent } from '../../src/core/events.js';
import type { ProviderContext } from '../../src/core/provider.js';
import type { AwsClients } from '../../src/providers/aws/aws-clients.js';
import { awsProviderSchema, type AwsProviderConfig } from '../../src/providers/aws/schema.js';

/** A provider context that records events; the clock fast-forwards so polls never sleep for real. */
export function testContext(opts: { clock?: Clock; service?: string } = {}): ProviderContext & { emitted: ZddEvent[] } {
  const emitted: ZddEvent[] = [];
  return {
    service: opts.service ?? 'web',
    configDir: process.cwd(),
    stateDir: '.zdd',
    env: undefined,
    clock: opts.clock ?? new FakeClock(Date.UTC(2026, 0, 1), true),
    events: { emit: (e) => emitted.push(e) },
    options: {},
    emitted,
  };
}

/** The provider section a user would write for the moto stack (the names createMotoStack uses). */
export const STACK_PROVIDER = {
  type: 'aws',
  cluster: 'prod',
  slots: [
    { service: 'web-a', targetGroup: 'web-a' },
    { service: 'web-b', targetGroup: 'web-b' },
  ],
  listener: { loadBalancer: 'web-alb', port: 80 },
};

/** The config a user would write for the moto stack, validated through the real schema. */
export function stackConfig(over: Record<string, unknown> = {}): AwsProviderConfig {
  return awsProviderSchema.parse({ ...STACK_PROVIDER, pollInterval: '5s', ...over });
}

/** Counts AWS API calls per operation through a middleware on each client. */
export function countCalls(clients: AwsClients | Record<string, { middlewareStack: { add: (...a: any[]) => void } }>): { counts: Map<string, number>; total(): number; reset(): void } {
  const counts = new Map<string, number>();
  for (const client of Object.values(clients)) {
    (client as { middlewareStack: { add: (...a: any[]) => void } }).middlewareStack.add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'zddCallCounter' },
    );
  }
  return {
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
  };
}
