import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/exit-codes.js';
import type { Step } from '../../src/core/plan.js';
import type { DrainFacts } from '../../src/core/provider.js';
import { drainSettings, lintDrains, type DrainSettings } from '../../src/engine/drain-lint.js';
import { forwardStickiness, stopTimeouts } from '../../src/providers/aws/drain-facts.js';
import { podDrainFacts } from '../../src/providers/kubernetes/drain-facts.js';
import type { DeploymentObject } from '../../src/providers/kubernetes/deployment-platform.js';
import { createHarness, type Harness } from './engine-harness.js';

const settings = (s: Partial<DrainSettings> = {}): DrainSettings => ({ drainMs: 5000, longestBakeMs: 0, scalesUnderTraffic: false, ...s });
const alb = (delay: number, idle = 60, extra: Partial<DrainFacts> = {}): DrainFacts => ({
  deregistrationDelays: [
    { targetGroup: 'web-a', seconds: delay },
    { targetGroup: 'web-b', seconds: delay },
  ],
  idleTimeout: { loadBalancer: 'web-alb', seconds: idle },
  stopTimeouts: [{ taskDefinition: 'task definition web:3', container: 'web', seconds: 60, defaulted: false }],
  ...extra,
});
const rules = (fs: { rule: string; severity: string }[]) => fs.map((f) => `${f.severity}:${f.rule}`);

describe('drain lint: AWS (ALB + ECS)', () => {
  it('drain 5s against a 60s deregistration delay: one warning for both groups, fix drain: "1m"', () => {
    const [f, ...rest] = lintDrains(alb(60), settings());
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ rule: 'drain-shorter-than-deregistration', severity: 'warn' });
    expect(f.message).toBe('drain 5s is shorter than the deregistration delay of target groups web-a, web-b (1m): zdd counts a revision drained and stops it after 5s, while the load balancer still gives it requests for 1m');
    expect(f.fix).toMatch(/^set drain: "1m" in the config, or set deregistration_delay.timeout_seconds to 5 on target groups web-a, web-b/);
  });

  it('is clean once drain matches the delay', () => {
    expect(lintDrains(alb(60), settings({ drainMs: 60_000 }))).toEqual([]);
  });

  it('refuses when drain + deregistration delay is shorter than the longest request the ALB allows', () => {
    const fs = lintDrains(alb(20, 60), settings());
    expect(rules(fs)).toEqual(['refuse:deregistration-cuts-requests', 'warn:drain-shorter-than-deregistration']);
    expect(fs[0].message).toMatch(/A request may run 1m \(load balancer web-alb's idle timeout\), but a retired revision keeps its in-flight requests only 5s \(drain\) \+ 20s .* = 25s/);
    expect(fs[0].fix).toMatch(/^set deregistration_delay.timeout_seconds to 55 on target groups web-a, web-b .* or more, or lower the load balancer's idle_timeout.timeout_seconds to 25/);
    // At the boundary the requests fit: no refusal.
    expect(rules(lintDrains(alb(55, 60), settings()))).not.toContain('refuse:deregistration-cuts-requests');
  });

  it('notes a deregistration delay far longer than any request (the 300s default) instead of asking for a 5m drain', () => {
    const fs = lintDrains(alb(300, 60), settings());
    expect(rules(fs)).toEqual(['note:deregistration-delay-long']);
    expect(fs[0].message).toMatch(/keeps old tasks 4m longer than needed/);
    expect(fs[0].fix).toMatch(/to 60 on target groups web-a, web-b .*, and set drain: "1m" in the config/);
  });

  it('warns when an essential container is SIGKILLed before the longest request ends, with the ECS default named', () => {
    const td = { family: 'web', revision: 3, containerDefinitions: [{ name: 'web', essential: true }, { name: 'log-router', essential: false, stopTimeout: 2 }] };
    const facts = alb(60, 60, { stopTimeouts: stopTimeouts(td) });
    const fs = lintDrains(facts, settings({ drainMs: 60_000 }));
    expect(rules(fs)).toEqual(['warn:stop-timeout-short']);
    expect(fs[0].message).toMatch(/^Container web of task definition web:3 gets SIGKILL 30s after SIGTERM \(stopTimeout unset: the ECS default\)/);
    expect(fs[0].fix).toBe('set "stopTimeout": 60 on container web in the task definition');
    const longIdle = lintDrains(alb(300, 300, { stopTimeouts: stopTimeouts(td) }), settings({ drainMs: 300_000 }));
    expect(longIdle.find((f) => f.rule === 'stop-timeout-short')!.fix).toMatch(/lower the load balancer's idle_timeout.timeout_seconds to 120 or less/);
  });

  it('folds the stickiness warning in: measured against the longest bake, or 5m without one', () => {
    const sticky = (seconds: number): DrainFacts => ({ stickiness: { seconds } });
    expect(lintDrains(sticky(300), settings())).toEqual([]);
    expect(lintDrains(sticky(86_400), settings())[0].message).toMatch(/stickiness is on for 86400s: clients with the cookie stay on their slot/);
    expect(rules(lintDrains(sticky(120), settings({ longestBakeMs: 60_000 })))).toEqual(['warn:stickiness-longer-than-bake']);
    expect(lintDrains(sticky(60), settings({ longestBakeMs: 60_000 }))).toEqual([]);
    expect(forwardStickiness([{ Type: 'forward', ForwardConfig: { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 90 } } }])).toBe(90);
    expect(forwardStickiness([{ Type: 'forward', ForwardConfig: { TargetGroupStickinessConfig: { Enabled: false, DurationSeconds: 90 } } }])).toBeUndefined();
  });
});

describe('drain lint: the plan', () => {
  const plan: Step[] = [
    { kind: 'shiftTraffic', weights: { candidate: 100 } } as Step,
    { kind: 'pause', durationMs: 600_000 },
    { kind: 'pause', durationMs: 60_000 },
    { kind: 'retire', role: 'stable', afterMs: 120_000 },
  ];

  it('reads the longest bake, keepPrevious and whether a serving revision shrinks', () => {
    expect(drainSettings(5000, plan)).toEqual({ drainMs: 5000, longestBakeMs: 600_000, keepPreviousMs: 120_000, scalesUnderTraffic: false });
    expect(drainSettings(5000, [{ kind: 'scale', role: 'stable', replicas: 1 } as Step, { kind: 'retire', role: 'stable' }])).toEqual({ drainMs: 5000, longestBakeMs: 0, scalesUnderTraffic: true });
  });

  it('warns when keepPrevious is shorter than the bake, on any platform', () => {
    const fs = lintDrains({}, drainSettings(5000, plan));
    expect(rules(fs)).toEqual(['warn:keep-previous-shorter-than-bake']);
    expect(fs[0].message).toMatch(/^keepPrevious 2m is shorter than the 10m bake/);
    expect(fs[0].fix).toBe('set strategies.blue-green.keepPrevious: "10m" or more');
    expect(lintDrains({}, drainSettings(5000, [plan[1], { kind: 'retire', role: 'stable', afterMs: 600_000 }]))).toEqual([]);
  });
});

describe('drain lint: Kubernetes (read from a Deployment object)', () => {
  const deployment = (podSpec: Record<string, unknown>): DeploymentObject =>
    ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'web', image: 'web:1' }], ...podSpec } } } }) as unknown as DeploymentObject;

  it('reads the grace period (30 when unset) and each preStop, a sleep action or an exec of sleep', () => {
    expect(podDrainFacts(deployment({}))).toEqual({ pods: { deployment: 'web', terminationGracePeriodSeconds: 30, defaulted: true, containers: [{ name: 'web', preStop: 'none' }] } });
    const facts = podDrainFacts(
      deployment({
        terminationGracePeriodSeconds: 45,
        containers: [
          { name: 'web', lifecycle: { preStop: { sleep: { seconds: 10 } } } },
          { name: 'proxy', lifecycle: { preStop: { exec: { command: ['/bin/sh', '-c', 'sleep 7'] } } } },
          { name: 'agent', lifecycle: { preStop: { exec: { command: ['/agent', 'flush'] } } } },
          { name: 'hook', lifecycle: { preStop: { httpGet: { path: '/quit', port: 8080 } } } },
        ],
      }),
    );
    expect(facts.pods).toEqual({
      deployment: 'web',
      terminationGracePeriodSeconds: 45,
      defaulted: false,
      containers: [
        { name: 'web', preStop: 'sleep', sleepSeconds: 10 },
        { name: 'proxy', preStop: 'exec', sleepSeconds: 7 },
        { name: 'agent', preStop: 'exec' },
        { name: 'hook', preStop: 'httpGet' },
      ],
    });
  });

  it('no preStop: a note, a warning when the plan removes pods from a serving revision; the standard fix', () => {
    const facts = podDrainFacts(deployment({}));
    expect(rules(lintDrains(facts, settings()))).toEqual(['note:no-prestop']);
    const [f] = lintDrains(facts, settings({ scalesUnderTraffic: true }));
    expect(f.severity).toBe('warn');
    expect(f.fix).toBe('add lifecycle: { preStop: { sleep: { seconds: 5 } } } to container web (Kubernetes 1.30+; before that exec: { command: ["sleep", "5"] })');
    expect(lintDrains(podDrainFacts(deployment({ terminationGracePeriodSeconds: 8 })), settings())[0].fix).toMatch(/and set spec.template.spec.terminationGracePeriodSeconds: 10 on Deployment web$/);
  });

  it('refuses a preStop sleep the grace period cuts short; warns when sleep + drain outlast it', () => {
    const withSleep = (sleep: number, grace: number) => podDrainFacts(deployment({ terminationGracePeriodSeconds: grace, containers: [{ name: 'web', lifecycle: { preStop: { sleep: { seconds: sleep } } } }] }));
    const refused = lintDrains(withSleep(30, 30), settings());
    expect(rules(refused)).toEqual(['refuse:prestop-outlives-grace']);
    expect(refused[0].fix).toBe('set spec.template.spec.terminationGracePeriodSeconds: 35 on Deployment web');
    expect(rules(lintDrains(withSleep(10, 12), settings()))).toEqual(['warn:grace-shorter-than-prestop-and-drain']);
    expect(lintDrains(withSleep(10, 15), settings())).toEqual([]);
  });
});

describe('deploy preflight: drains', () => {
  let h: Harness;
  afterEach(() => h?.cleanup());
  const refusing: DrainFacts = { deregistrationDelays: [{ targetGroup: 'web-a', seconds: 0 }], idleTimeout: { loadBalancer: 'web-alb', seconds: 60 } };

  it('refuses with exit 5 before any change, naming the numbers and the fix', async () => {
    h = createHarness();
    h.provider.drainFacts = async () => refusing;
    const err = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 }).catch((e) => e);
    expect(err.exitCode).toBe(ExitCode.ProviderBeforeChange);
    expect(err.message).toMatch(/drain settings would cut requests:\n {2}- A request may run 1m .* \+ 0s \(deregistration delay of target group web-a\) = 1s: .* Fix: set deregistration_delay.timeout_seconds to 59 on target group web-a/);
    expect(h.fakeState().weights).toEqual({ v1: 100 });
    expect(Object.keys(h.fakeState().revisions)).toEqual(['v1']);
  });

  it('with --force, deploys and says what it went past; a warning alone never stops a deploy', async () => {
    h = createHarness();
    h.provider.drainFacts = async () => refusing;
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0, force: true });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'warn', message: expect.stringMatching(/^--force: deploying anyway: A request may run 1m/) }));
  });

  it('a platform whose settings cannot be read is a warning, not a failure', async () => {
    h = createHarness();
    h.provider.drainFacts = async () => {
      throw new Error('AccessDenied: elasticloadbalancing:DescribeTargetGroupAttributes');
    };
    const outcome = await h.engine.deploy({ candidate: { id: 'v2' }, strategy: 'canary', rollbackOnFailure: true, lockWaitMs: 0 });
    expect(outcome.exitCode).toBe(ExitCode.Ok);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'warn', message: expect.stringMatching(/^Drain check skipped: could not read the platform's drain settings: AccessDenied/) }));
  });
});
