import type { Clock } from './clock.js';
import type { EventSink } from './events.js';
import type { Step } from './plan.js';
import type { Watchdog } from './state.js';

/** One immutable version of the service. `id` is what people type (`--revision v2`). */
export interface RevisionSpec {
  id: string;
  /** Container image, when the platform runs images (AWS). */
  image?: string;
  /** Provider-specific data the provider wants back later (task definition ARN, slot …). */
  meta?: Record<string, string>;
}

/** Percent of production traffic per revision id, 0–100. Revisions not listed have 0. */
export type WeightMap = Record<string, number>;

/** What a provider can do. A strategy's needs are checked against this before anything changes. */
export interface ProviderCapabilities {
  /** Arbitrary percentages between two revisions (canary, linear). */
  weightedTraffic: boolean;
  /** Move 100% in one router call (blue-green, rollback). */
  instantSwitch: boolean;
  /** A header route (or test listener) that reaches the candidate before it has weight. */
  testRoute: boolean;
  /** Grow and shrink revisions instance by instance (rolling). */
  batches: boolean;
  /** Rolling replaces instances of one running unit in place, production following ready instances (Kubernetes Deployment behind a Service); stands in for weightedTraffic in rolling. */
  rollsInPlace?: boolean;
  /**
   * A guard outside zdd's process that acts for a deploy whose process died (the local router's
   * dead-man's switch), fencing the lock while it acts. Not a strategy requirement: the engine and
   * the CLI only name it, and wait for it.
   */
  watchdog?: Watchdog;
}

/**
 * What a router can do, declared in its registry entry (src/providers/provider-manifest.ts) and
 * checked before anything changes. A capability a router lacks is `false`, never a missing method.
 */
export interface RouterCapabilities {
  /** Percent weights between revisions, and the smallest step it can set (1 = any whole percent); false: it can only switch. */
  weights: { granularity: number } | false;
  /** Move 100% in one call (blue-green, rollback). */
  instantSwitch: boolean;
  /** A request header that reaches the candidate before it has weight. */
  headerRoute: boolean;
  /** A separate listener (port) that reaches the candidate before it has weight. */
  testListener: boolean;
  /** Per-revision request and error counts (the `router` check, the statistical judge). */
  trafficSample: boolean;
  /** Names the serving revision in every answer (the observed-split probe). */
  answerTag: boolean;
}

/** What a platform can do, declared in its registry entry. */
export interface PlatformCapabilities {
  /** Grow and shrink a revision instance by instance (rolling). */
  batches: boolean;
  /** Keep a revision known at 0 instances. */
  scaleToZero: boolean;
  /** Run the candidate's instances beside stable's (more than `replicas` at once). */
  surge: boolean;
}

export interface RevisionState {
  revision: RevisionSpec;
  /** Instances the platform is asked to run. */
  desired: number;
  /** Instances running and healthy right now, when the platform knows. */
  healthy?: number;
}

/** What runs and how traffic is split, as the provider sees it now (not from zdd's records). */
export interface ProviderSnapshot {
  revisions: RevisionState[];
  weights: WeightMap;
  testRoute?: string | null;
  /** Human notes, e.g. "router not running". */
  notes?: string[];
}

/** How checks and hooks reach a revision. */
export interface RevisionEndpoints {
  /** Production entry point (router / load balancer). */
  serviceUrl?: string;
  /** URL that reaches the candidate through the test route, with `testHeaders` if needed. */
  testUrl?: string;
  testHeaders?: Record<string, string>;
  /** Direct URLs of the revision's instances, where reachable. */
  instanceUrls?: string[];
  /** Where metric checks find the revision's series (a revision's slot changes between deploys). */
  metricDimensions?: MetricDimensions;
}

/**
 * Where each metric source finds a revision's series: one typed field per source, added by the
 * metric check that reads it (declaration merging in its own module, e.g. `alb` in
 * src/checks/metrics/alb-dimensions.ts), so core names no metric source.
 */
export interface MetricDimensions {}

/** Per-revision request counters a router keeps (local router), for the `router` metric check. */
export interface RevisionTrafficSample {
  revision: string;
  requests: number;
  errors: number;
  /** Latency samples in ms over the window, when kept. */
  latenciesMs?: number[];
  /** Requests through the test route in the window, counted apart (not in requests/errors). */
  testRouteRequests?: number;
}

/**
 * How the router's answers name the revision that served them (for the observed-split probe): a
 * response header, and where its value is not the revision id (HAProxy's server name), the mapping
 * as it stands when the probe runs.
 */
export interface AnswerTag {
  header: string;
  /** The value → revision lookup for one probe: called right before it, then once for each answer it got (with the answer's status). */
  mapping?(): Promise<(value: string, status: number) => string | undefined>;
  /** Headers the probe's requests carry so the router leaves them out of its statistics (its traffic sample). */
  probeHeaders?(): Promise<Record<string, string>>;
}

/** Splits production traffic between revisions. */
export interface TrafficRouter {
  /** Declared by a router that names the serving revision in every answer. Optional capability. */
  readonly answerTag?: AnswerTag;
  /** Write the weights for every listed revision in one call; revisions not listed go to 0. */
  setWeights(weights: WeightMap): Promise<void>;
  /** Read the weights back from the router itself (not from a cache). */
  getWeights(): Promise<WeightMap>;
  /**
   * Optional. Called right before an observed-split probe; the function it returns, called after a
   * probe whose split failed, names what the router itself went through meanwhile that clients may
   * have met (e.g. "HAProxy reloaded during the probe (pid 41 → 57)"), or undefined for nothing.
   */
  witnessProbe?(): Promise<() => Promise<string | undefined>>;
  /** Send requests with the test header to `revisionId` (null removes the route). Needs capability `testRoute`. */
  setTestRoute?(revisionId: string | null): Promise<void>;
  /** Request and error counts per revision over the last `windowMs`. Optional capability. */
  trafficSample?(revisionIds: string[], windowMs: number): Promise<RevisionTrafficSample[]>;
}

export interface HealthWaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Runs revisions: provisions, scales, checks health, retires. */
export interface Platform {
  /** Start `revision` with `replicas` instances that take no production traffic yet. Idempotent. */
  provision(revision: RevisionSpec, replicas: number): Promise<void>;
  /**
   * Set the instance count of a running revision (0 is allowed and keeps it known). Instances
   * removed are first taken out of routing and given `drainMs` to finish in-flight requests.
   */
  scale(revisionId: string, replicas: number, opts: { drainMs: number }): Promise<void>;
  /** Resolve once every desired instance of the revision is healthy; throw CheckFailedError naming why. */
  waitHealthy(revisionId: string, opts: HealthWaitOptions): Promise<void>;
  /** Stop a revision whose weight is already 0: wait `drainMs` for in-flight work, then stop it. Idempotent. */
  retire(revisionId: string, opts: { drainMs: number }): Promise<void>;
  /** Where checks and hooks can reach a revision. */
  endpoints(revisionId: string): Promise<RevisionEndpoints>;
}

/**
 * What the platform itself waits when it takes instances out of service, in seconds as the
 * platform states them, for the drain lint (src/engine/drain-lint.ts). Each field is there only
 * where the platform has that setting.
 */
export interface DrainFacts {
  /** Load balancer target groups: how long a deregistered target keeps its in-flight requests (ALB deregistration_delay.timeout_seconds). */
  deregistrationDelays?: { targetGroup: string; seconds: number }[];
  /** The longest a request may sit idle at the load balancer: the proxy for the longest request the app allows (ALB idle_timeout.timeout_seconds). */
  idleTimeout?: { loadBalancer: string; seconds: number };
  /** Time between SIGTERM and SIGKILL per container (ECS stopTimeout; `defaulted` when unset and ECS's 30 s applies). */
  stopTimeouts?: { taskDefinition: string; container: string; seconds: number; defaulted: boolean }[];
  /** Load balancer stickiness across revisions, when on (ALB target group stickiness of the production forward action). */
  stickiness?: { seconds: number };
  /** Kubernetes pod template: terminationGracePeriodSeconds (30 when unset) and each container's preStop hook. */
  pods?: { deployment: string; terminationGracePeriodSeconds: number; defaulted: boolean; containers: { name: string; preStop: 'none' | 'sleep' | 'exec' | 'httpGet'; sleepSeconds?: number }[] };
}

/** A provider pairs a platform with a traffic router. */
export interface Provider {
  readonly name: string;
  /** The platform and router this provider pairs, as named in the registries (absent for a custom provider). */
  readonly pair?: { platform: string; router: string };
  readonly capabilities: ProviderCapabilities;
  readonly platform: Platform;
  readonly router: TrafficRouter;
  /** Verify credentials and resources exist before anything changes; throw ProviderError (exit 5). */
  preflight?(): Promise<void>;
  /** Read what the platform itself waits around a stop (deregistration delay, stop timeout, grace period). Optional capability. */
  drainFacts?(): Promise<DrainFacts>;
  /** The live state, read from the platform and router. */
  snapshot(): Promise<ProviderSnapshot>;
  /** What `zdd plan` should add about how this provider carries out `steps` (e.g. settings it writes). Optional. */
  planNotes?(steps: Step[], strategyOptions: Record<string, unknown> | undefined): Promise<string[]>;
  /** Stop everything this provider started for the service (`zdd down`). Optional capability. */
  down?(): Promise<void>;
  /** Release clients, sockets, timers. */
  close?(): Promise<void>;
}

/** Everything a provider factory receives. */
export interface ProviderContext {
  service: string;
  /** Directory holding the config file; relative paths resolve from here. */
  configDir: string;
  /** Local state directory (`.zdd/` by default). */
  stateDir: string;
  /**
   * Which store holds the lock and the records (`state.type`; absent: `file`). A watchdog that reads
   * them itself (the local router's dead-man's switch) can act only on the file store.
   */
  stateStore?: 'file' | 's3' | 'kubernetes';
  env: string | undefined;
  clock: Clock;
  events: EventSink;
  /** The provider's own CLI flags as given (AWS: region, profile); see its registry manifest. */
  options: Record<string, string | undefined>;
}

/** A provider plugin: a name plus a factory. Built-ins and config-supplied objects look the same. */
export interface ProviderFactory<TConfig = unknown> {
  create(config: TConfig, ctx: ProviderContext): Provider | Promise<Provider>;
}
