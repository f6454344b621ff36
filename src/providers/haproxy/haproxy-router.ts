import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../../core/clock.js';
import { ProviderError, TrafficMismatchError, errorMessage } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import type { AnswerTag, RevisionTrafficSample, TrafficRouter, WeightMap } from '../../core/provider.js';
import { differingRevisions, formatWeights, nonZero } from '../../core/weights.js';
import { draining, effectiveWeight, inMaintenance, majorMinor, parseInfo, parseMap, parseServersState, parseStat, persistenceCookie, type ServerCounters, type ServerState } from './haproxy-answers.js';
import { RuntimeApi, RuntimeApiCommandError } from './runtime-api.js';
import { HAPROXY_DEFAULTS, type HaproxyRouterConfig } from './schema.js';
import { percentsOf, spreadWeights } from './weight-spread.js';

/** Oldest HAProxy zdd drives: `show cli level`, `server-template`, `set server … addr … port`. */
export const MIN_HAPROXY: [number, number] = [2, 0];
/** Poll period while waiting for a drained server's requests to finish. */
const DRAIN_POLL_MS = 50;
/** Counter snapshots older than this are dropped (windows are seconds to minutes). */
const HISTORY_MS = 30 * 60_000;
/**
 * An observed-split probe counts as running until this long after its last answer: counter
 * snapshots taken meanwhile are not kept as window boundaries (an answer HAProxy counted just
 * before the snapshot but zdd received just after would be taken out of the wrong window).
 */
const PROBE_QUIET_MS = 1_000;

/** Which instances each revision has: asked of the platform the router fronts, never cached. */
export interface InstanceDirectory {
  /** Revisions the platform runs now (any instance count). */
  revisions(): Promise<string[]>;
  /** `http://host:port` URLs of a revision's instances that passed their health checks. */
  instanceUrls(revisionId: string): Promise<string[]>;
}

export interface HaproxyRouterDeps {
  directory: InstanceDirectory;
  clock: Clock;
  events: EventSink;
  api?: RuntimeApi;
}

/** A server slot read from HAProxy, with the revision whose instance it points at (by address). */
interface Slot extends ServerState {
  revision?: string;
}

interface CounterSnapshot {
  at: number;
  pid: string;
  /** By `backend/server`: the revision whose instance the server's address is (in maintenance too), and its cumulative counters. */
  servers: Map<string, { address: string; revision?: string; inMaintenance: boolean; responses: number; errors: number; test: boolean }>;
}

/** One answer the observed-split probe got, by the server HAProxy named in it. */
interface ProbeAnswer {
  at: number;
  /** `backend/server` */
  server: string;
  error: boolean;
}

/** `http://web1.internal:8081/` → `10.0.0.5:8081`: HAProxy's `set server … addr` takes an IP, and reports one. */
export async function resolveHostPort(url: string): Promise<string> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  if (isIP(host)) return `${host}:${port}`;
  try {
    return `${(await lookup(host)).address}:${port}`;
  } catch (e) {
    throw new ProviderError(`Cannot resolve the instance host "${host}" (${url}) to an address for HAProxy: ${errorMessage(e)}`, { hint: 'Use IP addresses or names this machine resolves.' });
  }
}

/**
 * Traffic through HAProxy's Runtime API. Each revision's instances are servers of one backend:
 * pre-declared slots (`server-template`) that zdd points at an instance with `set server … addr`,
 * so that a reload with `server-state-file` keeps them (dynamic servers from `add server` are
 * lost on every reload, and HAProxy 2.6 cannot restore them from the state file). Which revision
 * a slot serves is read from the platform (the instance at that address), so HAProxy and the
 * platform stay the only truth: any zdd process on any machine reads the same thing.
 */
export class HaproxyRouter implements TrafficRouter {
  readonly name = 'haproxy';
  readonly capabilities;
  readonly api: RuntimeApi;
  /** The platform calls these when its instances come and go (composition wires them). */
  readonly instanceRouting = {
    instancesChanged: (_revisionId: string) => this.instancesChanged(),
    drainInstances: (_revisionId: string, urls: string[], opts: { drainMs: number }) => this.drainInstances(urls, opts.drainMs),
  };
  /**
   * Each answer names its server slot when the backend says `http-response set-header x-zdd-server %s`
   * (docs/haproxy.md); which revision a slot holds is read when the probe runs. HAProxy's counters
   * cannot tell the probe's requests from clients', so the lookup also notes each answer, by
   * server, and `trafficSample` takes them out again (the local router leaves them out itself).
   */
  readonly answerTag: AnswerTag = {
    header: 'x-zdd-server',
    mapping: async () => {
      this.lastProbeAt = this.deps.clock.now();
      const { slots } = await this.readBackend(this.cfg.backend);
      const byName = new Map(slots.map((s) => [s.name, s.revision]));
      return (value: string, status: number) => {
        this.noteProbeAnswer(value, status);
        return byName.get(value);
      };
    },
  };
  private readonly prefix: string;
  private readonly test?: { map: string; backend: string; header: string; value: string };
  private readonly history: CounterSnapshot[] = [];
  /** The observed-split probe's answers (this process sent them), kept as long as the counter history. */
  private readonly probeAnswers: ProbeAnswer[] = [];
  private lastProbeAt?: number;
  /** Sticky sessions declared in the config: preflight checks that the backend pins clients by cookie. */
  private readonly sticky?: { cookie: string };
  /** What this process last wrote, put back by the reload watch if HAProxy loses it. */
  private written?: { weights: WeightMap; testRoute: string | null | undefined };
  private pid?: string;
  /** A read saw a new HAProxy process since this process last wrote. */
  private reloadSeen = false;
  /** Times the reload watch wrote zdd's changes again (the observed-split probe's witness counts them). */
  private repairs = 0;
  private watchTimer?: NodeJS.Timeout;
  private watchFailure?: ProviderError;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cfg: HaproxyRouterConfig,
    private readonly deps: HaproxyRouterDeps,
  ) {
    this.api = deps.api ?? new RuntimeApi(cfg.runtimeApi, cfg.timeout ?? HAPROXY_DEFAULTS.timeoutMs);
    this.prefix = cfg.slots ?? HAPROXY_DEFAULTS.slots;
    if (cfg.testRoute) this.test = { header: HAPROXY_DEFAULTS.header, value: HAPROXY_DEFAULTS.value, ...cfg.testRoute };
    if (cfg.sticky) this.sticky = { cookie: (typeof cfg.sticky === 'object' ? cfg.sticky.cookie : undefined) ?? HAPROXY_DEFAULTS.stickyCookie };
    this.capabilities = { weights: { granularity: 1 }, instantSwitch: true, headerRoute: this.test !== undefined, testListener: false, trafficSample: true, mirror: false } as const;
  }

  /** Weights, test route and what HAProxy runs, for `zdd status`. */
  async snapshot(): Promise<{ weights: WeightMap; testRoute?: string | null; notes: string[] }> {
    const info = parseInfo(await this.api.ask('show info'));
    const { slots } = await this.readBackend(this.cfg.backend);
    const notes = [`HAProxy ${info['Version'] ?? '?'} (pid ${info['Pid'] ?? '?'}, up ${info['Uptime'] ?? '?'}) at ${this.api.where}, backend ${this.cfg.backend}`];
    const used = slots.filter((s) => this.isSlot(s) && !inMaintenance(s));
    const free = slots.filter((s) => this.isSlot(s) && inMaintenance(s)).length;
    notes.push(
      `servers: ${used.map((s) => `${s.name} ${s.address} ${s.revision ?? 'no known revision'} weight ${effectiveWeight(s)}${draining(s) ? ' draining' : ''}${s.opState === 0 ? ' DOWN' : ''}`).join(', ') || 'none in use'}; ${free} free slot${free === 1 ? '' : 's'}`,
    );
    return { weights: await this.getWeights(), ...(this.test ? { testRoute: await this.testRoute() } : {}), notes };
  }

  /** `zdd down`: remove the test route zdd added; the servers keep serving (zdd never takes a site down). */
  async down(): Promise<void> {
    if (this.test && (await this.testRoute()) !== null) await this.setTestRoute(null);
  }

  get testHeaders(): Record<string, string> | undefined {
    return this.test ? { [this.test.header]: this.test.value } : undefined;
  }

  /**
   * Before any change (exit 5): the API answers at admin level, HAProxy is new enough, the backend
   * (and the test route's backend and map) exist and have zdd's slots.
   */
  async preflight(): Promise<void> {
    const info = parseInfo(await this.api.ask('show info'));
    const version = info['Version'] ?? '';
    const mm = majorMinor(version);
    if (!mm || mm[0] < MIN_HAPROXY[0] || (mm[0] === MIN_HAPROXY[0] && mm[1] < MIN_HAPROXY[1])) {
      throw new ProviderError(`HAProxy at ${this.api.where} is version ${version || '(unknown)'}; zdd needs ${MIN_HAPROXY.join('.')} or newer (server-template slots, \`set server … addr … port\`, \`show cli level\`)`, {
        hint: 'Upgrade HAProxy (Debian 12 ships 2.6), or use another router.',
        code: 'haproxy-too-old',
      });
    }
    const level = (await this.api.ask('show cli level')).trim();
    if (level !== 'admin') {
      throw new ProviderError(`HAProxy's Runtime API at ${this.api.where} answers at level "${level || 'unknown'}", not "admin": zdd cannot set weights or server addresses there`, {
        hint: 'Add `level admin` to the `stats socket` line of haproxy.cfg\'s global section and reload HAProxy (docs/haproxy.md).',
        code: 'haproxy-not-admin',
      });
    }
    await this.checkBackend(this.cfg.backend, 'provider.router.backend');
    if (this.sticky) await this.checkPins(this.cfg.backend, this.sticky.cookie);
    if (this.test) {
      await this.checkBackend(this.test.backend, 'provider.router.testRoute.backend');
      const maps = await this.api.ask('show map');
      if (!maps.split('\n').some((l) => l.includes(`(${this.test!.map})`))) {
        throw new ProviderError(`HAProxy at ${this.api.where} has no map file ${this.test.map} loaded (provider.router.testRoute.map)`, {
          hint: `Reference it in the frontend, exactly as written in the config: \`use_backend %[req.hdr(${this.test.header}),map(${this.test.map})] if { req.hdr(${this.test.header}),map(${this.test.map}) -m found }\`, create the (empty) file and reload HAProxy (docs/haproxy.md).`,
          code: 'haproxy-no-map',
        });
      }
    }
  }

  private async checkBackend(backend: string, path: string): Promise<void> {
    const slots = await this.checkedSlots(backend, path);
    // HAProxy restores a server's address from the server-state-file only when haproxy.cfg declares
    // the server by name with `init-addr last`: slots declared as 127.0.0.1:1 all point back there
    // after a reload, and only a zdd process that is running at that moment puts them back.
    const byAddress = slots.filter((s) => s.fqdn === undefined);
    if (byAddress.length > 0) {
      this.deps.events.emit({
        type: 'warn',
        message: `Backend "${backend}" declares zdd's slots with an address (${byAddress[0]!.name} ${byAddress[0]!.address}): a reload of HAProxy points every slot back at that address, server-state-file or not, and clients get errors until zdd writes the addresses again. Declare them by name: \`server-template ${this.prefix} 1-10 zdd-slot.invalid:1 disabled init-addr last,127.0.0.1\` (docs/haproxy.md, section 3)`,
      });
    }
  }

  /**
   * Sticky sessions need the backend to pin each client to its server by a cookie whose value
   * follows the server's address (`dynamic`): a cookie fixed per slot would pin clients to the
   * slot, whatever instance zdd points it at next. `option redispatch` cannot be read over the
   * Runtime API; the docs list it with the rest.
   */
  private async checkPins(backend: string, cookie: string): Promise<void> {
    const stat = await this.api.ask(`show stat ${backend} 6 -1`);
    const lines = `\`cookie ${cookie} insert indirect nocache dynamic\`, \`dynamic-cookie-key <a secret>\` and \`option redispatch\``;
    const name = persistenceCookie(stat, backend);
    const warn = (message: string) => this.deps.events.emit({ type: 'warn', message: `${message} (docs/haproxy.md, section 5)` });
    if (!name) return warn(`provider.router.sticky is on, but backend "${backend}" pins no client to a server: add ${lines} to backend ${backend} and reload HAProxy. Until then clients go by weight at every request`);
    if (name !== cookie) return warn(`provider.router.sticky expects cookie "${cookie}", but backend "${backend}" pins clients with cookie "${name}": set provider.router.sticky.cookie to "${name}", or rename it in haproxy.cfg`);
    const slots = parseStat(stat).filter((c) => this.isSlot(c));
    const addresses = new Set(slots.map((c) => c.address));
    const cookies = new Set(slots.map((c) => c.cookie));
    if (cookies.has('') || cookies.size < addresses.size) {
      warn(`Backend "${backend}" gives zdd's slots ${cookies.has('') ? 'no cookie value' : 'the same cookie value at different addresses'}: a client is pinned to a slot rather than to an instance. Add \`dynamic\` to its \`cookie\` line and a \`dynamic-cookie-key\`, and take \`cookie\` off the server-template line`);
    }
  }

  private async checkedSlots(backend: string, path: string): Promise<ServerState[]> {
    const answer = await this.api.ask(`show servers state ${backend}`);
    if (/can't find backend|no such backend/i.test(answer)) {
      throw new ProviderError(`HAProxy at ${this.api.where} has no backend "${backend}" (${path})`, {
        hint: `Fix ${path}, or add \`backend ${backend}\` with \`server-template ${this.prefix} 1-10 zdd-slot.invalid:1 disabled init-addr last,127.0.0.1\` to haproxy.cfg and reload HAProxy (docs/haproxy.md).`,
        code: 'haproxy-unknown-backend',
      });
    }
    const slots = parseServersState(answer).filter((s) => this.isSlot(s));
    if (slots.length === 0) {
      throw new ProviderError(`Backend "${backend}" of HAProxy at ${this.api.where} has no server slots named ${this.prefix}1, ${this.prefix}2, … for zdd to fill`, {
        hint: `Add \`server-template ${this.prefix} 1-10 zdd-slot.invalid:1 disabled init-addr last,127.0.0.1\` to backend ${backend} (as many slots as instances of two revisions at once) and reload HAProxy (docs/haproxy.md).`,
        code: 'haproxy-no-slots',
      });
    }
    return slots;
  }

  /**
   * Point free slots at each revision's healthy instances, then give each revision's servers
   * weights that make its share exact: raised weights first, lowered ones after, so that the
   * backend never has all its weight at 0 in between. Last, the servers of revisions at 0% go to
   * maintenance: HAProxy keeps sending clients it pinned (a `cookie`, a stick table) to a server at
   * weight 0 or in `drain`, but not to one in maintenance; those clients go by weight at their next
   * request (option redispatch), while requests in flight on the server finish.
   */
  setWeights(weights: WeightMap): Promise<void> {
    return this.serial(() => this.writeWeights(weights));
  }

  private async writeWeights(weights: WeightMap): Promise<void> {
    for (const [id, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 100) throw new ProviderError(`Weight for revision "${id}" must be a whole percent 0–100, got ${w}`);
    }
    const { slots, urls } = await this.readBackend(this.cfg.backend, Object.keys(weights));
    const commands: string[] = [];
    // A zdd slot that points at the same instance as an earlier live slot is a duplicate: after a reload
    // that lost the slots' addresses, several point back at one place (haproxy.cfg's placeholder or one
    // instance). Duplicates and slots at no instance of any revision are zdd's to reuse, after the free ones.
    const seen = new Set<string>();
    const duplicate = new Set<string>();
    for (const s of slots) {
      if (inMaintenance(s)) continue;
      if (seen.has(s.address) && this.isSlot(s)) duplicate.add(s.name);
      seen.add(s.address);
    }
    const stray = (s: Slot) => this.isSlot(s) && !inMaintenance(s) && !draining(s) && (!s.revision || duplicate.has(s.name));
    const serversOf: Record<string, string[]> = {};
    // Draining servers take no new requests: a revision's share is spread over the others.
    for (const s of slots) if (s.revision && !inMaintenance(s) && !draining(s) && !stray(s)) (serversOf[s.revision] ??= []).push(s.name);
    const free = [...slots.filter((s) => this.isSlot(s) && inMaintenance(s)), ...slots.filter(stray)];
    const reused = new Set<string>();
    // Every healthy instance of a revision that gets traffic has a slot (a new one at weight 0 until the spread below).
    for (const [rev, w] of Object.entries(weights)) {
      if (w === 0) continue;
      const have = new Set(slots.filter((s) => s.revision === rev && !inMaintenance(s) && !stray(s)).map((s) => s.address));
      const missing = (urls.get(rev) ?? []).filter((a) => !have.has(a));
      if ((urls.get(rev) ?? []).length === 0) {
        throw new ProviderError(`Revision "${rev}" has no healthy instance for HAProxy to send ${w}% to`, { hint: 'Run `zdd status` to see what runs.' });
      }
      if (missing.length > free.length) {
        throw new ProviderError(`Backend "${this.cfg.backend}" has ${free.length} free server slot${free.length === 1 ? '' : 's'}, and revision "${rev}" needs ${missing.length} more`, {
          hint: `Raise the count of \`server-template ${this.prefix} …\` in backend ${this.cfg.backend} (every instance of two revisions at once) and reload HAProxy.`,
        });
      }
      for (const addr of missing) {
        const slot = free.shift()!;
        reused.add(slot.name);
        commands.push(...this.fill(this.cfg.backend, slot.name, addr, 0));
        (serversOf[rev] ??= []).push(slot.name);
      }
    }
    const percents: WeightMap = {};
    for (const rev of Object.keys(serversOf)) percents[rev] = weights[rev] ?? 0;
    let spread: Map<string, number>;
    try {
      spread = spreadWeights(percents, serversOf);
    } catch (e) {
      throw new ProviderError(`Cannot spread ${formatWeights(weights)} over backend "${this.cfg.backend}": ${errorMessage(e)}`);
    }
    const current = new Map(slots.map((s) => [s.name, effectiveWeight(s)]));
    const released = new Set(Object.entries(serversOf).flatMap(([rev, names]) => (percents[rev] === 0 ? names : [])));
    const changes = [...spread].filter(([name, w]) => current.get(name) !== w && !released.has(name));
    const up = changes.filter(([name, w]) => w > (current.get(name) ?? 0));
    const down = changes.filter(([name, w]) => w <= (current.get(name) ?? 0));
    for (const [name, w] of [...up, ...down]) commands.push(`set weight ${this.cfg.backend}/${name} ${w}`);
    for (const name of released) commands.push(`set weight ${this.cfg.backend}/${name} 0`, `set server ${this.cfg.backend}/${name} state maint`);
    // Last, slots of zdd that point at no instance the platform knows (gone, or never ours) are freed.
    for (const s of slots) {
      if (stray(s) && !reused.has(s.name)) commands.push(`set server ${this.cfg.backend}/${s.name} state maint`);
    }
    await this.run(commands, true);
    this.written = { weights: { ...weights }, testRoute: this.written?.testRoute };
    this.reloadSeen = false;
    await this.recordCounters().catch(() => undefined);
    this.startWatch();
  }

  /** Read back from HAProxy: each revision's share of the backend's effective weight. */
  async getWeights(): Promise<WeightMap> {
    this.throwWatchFailure();
    const { slots } = await this.readBackend(this.cfg.backend);
    const byRevision: Record<string, number> = {};
    for (const s of slots) {
      const w = effectiveWeight(s);
      // A server zdd does not own, or a slot at an address no revision has, shows under its own name: the engine sees a mismatch.
      const key = s.revision ?? (w > 0 ? `${this.cfg.backend}/${s.name} (${s.address})` : undefined);
      if (key === undefined) continue;
      byRevision[key] = (byRevision[key] ?? 0) + w;
    }
    return percentsOf(byRevision);
  }

  /**
   * For the observed-split probe: a new HAProxy process (a reload) since the probe began, and
   * whether the reload watch wrote zdd's changes again meanwhile. A reload without the
   * server-state-file answers 503 until then, which a probe would otherwise blame on a CDN.
   */
  async witnessProbe(): Promise<() => Promise<string | undefined>> {
    const pid = async () => parseInfo(await this.api.ask('show info'))['Pid'] ?? '?';
    const before = await pid();
    const repairs = this.repairs;
    return async () => {
      const now = await pid();
      const repaired = this.repairs > repairs ? "; it lost zdd's changes, and zdd's reload watch wrote them again" : '';
      if (now !== before) return `HAProxy reloaded during the probe (pid ${before} → ${now})${repaired}`;
      return repaired ? `HAProxy had reloaded (pid ${now})${repaired} during the probe` : undefined;
    };
  }

  /** Point the test backend's slots at `revisionId`'s instances and add the map entry; null removes both. */
  setTestRoute(revisionId: string | null): Promise<void> {
    return this.serial(() => this.writeTestRoute(revisionId));
  }

  private async writeTestRoute(revisionId: string | null): Promise<void> {
    const test = this.test;
    if (!test) throw new ProviderError('No test route is configured for the haproxy router (provider.router.testRoute)');
    const { slots, urls } = await this.readBackend(test.backend, revisionId ? [revisionId] : []);
    const commands: string[] = [];
    const mapped = parseMap(await this.api.ask(`show map ${test.map}`));
    if (revisionId === null) {
      if (mapped.has(test.value)) commands.push(`del map ${test.map} ${test.value}`);
      for (const s of slots) if (this.isSlot(s) && !inMaintenance(s)) commands.push(`set server ${test.backend}/${s.name} state maint`);
    } else {
      const targets = urls.get(revisionId) ?? [];
      if (targets.length === 0) throw new ProviderError(`Revision "${revisionId}" has no healthy instance for the test route`);
      const own = slots.filter((s) => this.isSlot(s));
      const keep = own.filter((s) => !inMaintenance(s) && targets.includes(s.address));
      const missing = targets.filter((a) => !keep.some((s) => s.address === a));
      const others = own.filter((s) => !keep.includes(s));
      if (keep.length === 0 && others.length === 0) throw new ProviderError(`Test backend "${test.backend}" has no free server slot`);
      // Retire the old targets after the new ones take requests.
      const stale = others.filter((s) => !inMaintenance(s));
      for (const addr of missing) {
        const slot = others.shift();
        if (!slot) break;
        commands.push(...this.fill(test.backend, slot.name, addr, 1));
      }
      for (const s of stale) if (others.includes(s)) commands.push(`set server ${test.backend}/${s.name} state maint`);
      commands.push(mapped.has(test.value) ? `set map ${test.map} ${test.value} ${test.backend}` : `add map ${test.map} ${test.value} ${test.backend}`);
    }
    await this.run(commands, true);
    this.written = { weights: this.written?.weights ?? {}, testRoute: revisionId };
  }

  /** The revision the test route reaches now, or null. */
  async testRoute(): Promise<string | null> {
    if (!this.test) return null;
    const mapped = parseMap(await this.api.ask(`show map ${this.test.map}`));
    if (mapped.get(this.test.value) !== this.test.backend) return null;
    const { slots } = await this.readBackend(this.test.backend);
    const revs = [...new Set(slots.filter((s) => !inMaintenance(s) && s.revision).map((s) => s.revision!))];
    return revs.length === 1 ? revs[0] : null;
  }

  /**
   * Request and error counts per revision over about the last `windowMs`, from HAProxy's own
   * counters (`show stat`): summed over the snapshots since the one closest to the window's start,
   * each server's increase going to the revision whose instance it pointed at, and less the
   * observed-split probe's own answers on it (HAProxy counts those like any client's).
   * Test-route requests are counted apart. Latency samples are not available from HAProxy.
   */
  async trafficSample(revisionIds: string[], windowMs: number): Promise<RevisionTrafficSample[]> {
    this.throwWatchFailure();
    // Kept as a boundary even while a probe may run: the engine never samples during its own probe.
    const now = await this.recordCounters(true);
    const from = now.at - windowMs;
    let first = this.history.findLastIndex((s) => s.at <= from && s !== now);
    if (first < 0) first = 0;
    const span = this.history.slice(first);
    const totals = new Map<string, { requests: number; errors: number; test: number }>(revisionIds.map((id) => [id, { requests: 0, errors: 0, test: 0 }]));
    for (let i = 1; i < span.length; i++) {
      const [a, b] = [span[i - 1], span[i]];
      const probes = this.probeAnswers.filter((p) => p.at > a.at && p.at <= b.at);
      for (const [key, cb] of b.servers) {
        const ca = a.servers.get(key);
        // A new HAProxy process (a reload) counts from zero; so does a server HAProxy did not have before.
        const fresh = !ca || a.pid !== b.pid || cb.responses < ca.responses;
        let revision: string | undefined;
        if (fresh) revision = cb.revision;
        else if (ca.address === cb.address) revision = ca.revision ?? cb.revision;
        // Pointed at another instance in between: its increase is the new revision's only if it took no requests before.
        else revision = ca.inMaintenance ? cb.revision : undefined;
        const t = revision ? totals.get(revision) : undefined;
        if (!t) continue;
        const mine = probes.filter((p) => p.server === key);
        const requests = cb.responses - (fresh ? 0 : ca.responses) - mine.length;
        const errors = cb.errors - (fresh ? 0 : ca.errors) - mine.filter((p) => p.error).length;
        if (cb.test) t.test += requests;
        else {
          t.requests += requests;
          t.errors += errors;
        }
      }
    }
    return [...totals].map(([revision, t]) => {
      const requests = Math.max(0, t.requests);
      return { revision, requests, errors: Math.min(requests, Math.max(0, t.errors)), testRouteRequests: Math.max(0, t.test) };
    });
  }

  /**
   * Take an instance out of routing before its process stops: its slot goes to `drain` (no new
   * requests; the revision's share is spread over its other servers in the same session), then to
   * `maint` once its requests finished or `drainMs` ran out. A slot already in maintenance at the
   * instance's address (its revision went to 0%) is waited for too: its last requests may still run.
   */
  drainInstances(urls: string[], drainMs: number): Promise<void> {
    return this.serial(async () => {
      const addrs = new Set(await Promise.all(urls.map(resolveHostPort)));
      const backends = [this.cfg.backend, ...(this.test ? [this.test.backend] : [])];
      const targets: { backend: string; name: string }[] = [];
      const parked: { backend: string; name: string }[] = [];
      for (const backend of backends) {
        const { slots } = await this.readBackend(backend);
        for (const s of slots) if (this.isSlot(s) && addrs.has(s.address)) (inMaintenance(s) ? parked : targets).push({ backend, name: s.name });
      }
      if (targets.length === 0 && parked.length === 0) return;
      if (targets.length > 0) {
        await this.run(targets.map((t) => `set server ${t.backend}/${t.name} state drain`), true);
        // The revision keeps its share on its remaining servers.
        if (this.written) await this.writeWeights(this.written.weights).catch(() => undefined);
        else await this.respreadFromLive();
      }
      const deadline = this.deps.clock.now() + drainMs;
      for (;;) {
        const counters = await this.readCounters();
        const busy = [...targets, ...parked].filter((t) => (counters.find((c) => c.backend === t.backend && c.name === t.name)?.current ?? 0) > 0);
        if (busy.length === 0) break;
        if (this.deps.clock.now() >= deadline) {
          this.deps.events.emit({ type: 'warn', message: `Drain time (${drainMs}ms) ran out with requests still in flight on HAProxy server${busy.length === 1 ? '' : 's'} ${busy.map((t) => `${t.backend}/${t.name}`).join(', ')}; stopping anyway` });
          break;
        }
        await this.deps.clock.sleep(DRAIN_POLL_MS);
      }
      await this.run(targets.map((t) => `set server ${t.backend}/${t.name} state maint`), true);
    });
  }

  /** A revision's instances changed (scaled up): new healthy instances join at the revision's current share. */
  private instancesChanged(): Promise<void> {
    return this.serial(() => this.respreadFromLive());
  }

  private async respreadFromLive(): Promise<void> {
    const live = nonZero(await this.getWeights());
    if (Object.keys(live).length === 0 || Object.values(live).some((w) => !Number.isInteger(w))) return;
    await this.writeWeights(live);
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    await this.queue.catch(() => undefined);
  }

  /** Slots of `backend` with each slot's revision, and each revision's instances as ip:port. `extra` revisions are looked up too. */
  private async readBackend(backend: string, extra: string[] = []): Promise<{ slots: Slot[]; urls: Map<string, string[]> }> {
    const answer = await this.api.ask(`show servers state ${backend}`);
    if (/can't find backend|no such backend/i.test(answer)) throw new ProviderError(`HAProxy at ${this.api.where} has no backend "${backend}" any more`, { changed: true });
    const servers = parseServersState(answer);
    const revisions = [...new Set([...(await this.deps.directory.revisions()), ...extra])];
    const urls = new Map<string, string[]>();
    await Promise.all(revisions.map(async (r) => urls.set(r, await Promise.all((await this.deps.directory.instanceUrls(r)).map(resolveHostPort)))));
    const owner = new Map<string, string>();
    for (const [rev, list] of urls) for (const u of list) owner.set(u, rev);
    const slots = servers.map((s) => ({ ...s, revision: inMaintenance(s) || !this.isSlot(s) ? undefined : owner.get(s.address) }));
    return { slots, urls };
  }

  private isSlot(s: { name: string }): boolean {
    return s.name.startsWith(this.prefix) && /^\d+$/.test(s.name.slice(this.prefix.length));
  }

  private fill(backend: string, slot: string, addr: string, weight: number): string[] {
    const i = addr.lastIndexOf(':');
    // Weight before address: a reused live slot takes no request for the new address before its share is set.
    return [`set weight ${backend}/${slot} ${weight}`, `set server ${backend}/${slot} addr ${addr.slice(0, i)} port ${addr.slice(i + 1)}`, `set server ${backend}/${slot} state ready`];
  }

  private async run(commands: string[], changes: boolean): Promise<void> {
    if (commands.length === 0) return;
    try {
      await this.api.execute(commands);
    } catch (e) {
      if (e instanceof RuntimeApiCommandError) {
        throw new ProviderError(`HAProxy at ${this.api.where} refused \`${e.command}\`: ${e.answer.trim()}`, {
          changed: changes,
          hint: /permission denied/i.test(e.answer) ? 'The stats socket needs `level admin` (docs/haproxy.md).' : undefined,
        });
      }
      if (e instanceof ProviderError) throw new ProviderError(e.message, { changed: changes, hint: e.hint, cause: e });
      throw e;
    }
  }

  private async readCounters(): Promise<ServerCounters[]> {
    const backends = [this.cfg.backend, ...(this.test ? [this.test.backend] : [])];
    return (await Promise.all(backends.map(async (b) => parseStat(await this.api.ask(`show stat ${b} 4 -1`))))).flat();
  }

  /**
   * A snapshot of every server's counters, with the revision whose instance each points at. It is
   * kept in the history (as a possible window boundary) unless an observed-split probe may be
   * running, or `keep` says it is a boundary anyway.
   */
  private async recordCounters(keep = false): Promise<CounterSnapshot> {
    const backends = [this.cfg.backend, ...(this.test ? [this.test.backend] : [])];
    const [info, counters] = await Promise.all([this.api.ask('show info'), this.readCounters()]);
    const pid = parseInfo(info)['Pid'] ?? '?';
    this.notePid(pid);
    const { slots, urls } = await this.readBackend(this.cfg.backend);
    // By address, not by the slot's state: a slot just put in maintenance still finishes its revision's requests.
    const owner = new Map<string, string>();
    for (const [rev, list] of urls) for (const u of list) owner.set(u, rev);
    const maintenance = new Set<string>();
    for (const backend of backends) {
      const states = backend === this.cfg.backend ? slots : (await this.readBackend(backend)).slots;
      for (const s of states) if (inMaintenance(s)) maintenance.add(`${backend}/${s.name}`);
    }
    const snap: CounterSnapshot = { at: this.deps.clock.now(), pid, servers: new Map() };
    for (const c of counters) {
      if (!backends.includes(c.backend) || !this.isSlot(c)) continue;
      const key = `${c.backend}/${c.name}`;
      snap.servers.set(key, { address: c.address, revision: owner.get(c.address), inMaintenance: maintenance.has(key), responses: c.responses, errors: c.errors5xx, test: c.backend !== this.cfg.backend });
    }
    if (keep || !this.probeMayRun()) {
      this.history.push(snap);
      const horizon = snap.at - HISTORY_MS;
      while (this.history.length > 2 && this.history[0].at < horizon) this.history.shift();
      while (this.probeAnswers.length > 0 && this.probeAnswers[0].at < horizon) this.probeAnswers.shift();
    }
    return snap;
  }

  private noteProbeAnswer(server: string, status: number): void {
    const at = this.deps.clock.now();
    this.lastProbeAt = at;
    this.probeAnswers.push({ at, server: `${this.cfg.backend}/${server}`, error: status >= 500 });
  }

  private probeMayRun(): boolean {
    return this.lastProbeAt !== undefined && this.deps.clock.now() - this.lastProbeAt < PROBE_QUIET_MS;
  }

  /**
   * While this process has written weights (a deploy or rollback runs), look every watchInterval
   * for an HAProxy that lost them: a reload without `server-state-file` puts every slot back to its
   * haproxy.cfg state and drops the test-route map entry. Then write them again and say so.
   * Someone else's `set weight` (no reload) is only reported: the engine's next step decides.
   */
  private startWatch(): void {
    if (this.watchTimer) return;
    const every = this.cfg.watchInterval ?? HAPROXY_DEFAULTS.watchIntervalMs;
    this.watchTimer = setInterval(() => void this.serial(() => this.watch()).catch(() => undefined), every);
    this.watchTimer.unref();
  }

  private async watch(): Promise<void> {
    if (!this.written) return;
    try {
      await this.recordCounters();
    } catch {
      return; // unreachable for a moment (a restart): the next tick or the engine's next call sees it
    }
    const pid = this.pid;
    const live = await this.getWeights().catch(() => undefined);
    if (!live) return;
    const lostWeights = differingRevisions(nonZero(live), nonZero(this.written.weights));
    const lostTestRoute = this.test && this.written.testRoute ? (await this.testRoute().catch(() => null)) !== this.written.testRoute : false;
    if (!lostWeights.length && !lostTestRoute) return;
    if (!this.reloadSeen) return;
    const what = `${formatWeights(nonZero(live), 'no weight on any revision')}${lostTestRoute ? ', test route gone' : ''}`;
    this.deps.events.emit({
      type: 'warn',
      message: `HAProxy reloaded (pid ${pid}) and lost zdd's changes (it now holds ${what}); writing ${formatWeights(nonZero(this.written.weights))}${lostTestRoute ? ` and the test route to ${this.written.testRoute}` : ''} again. A server-state-file keeps them across reloads (docs/haproxy.md)`,
    });
    try {
      await this.writeWeights(this.written.weights);
      if (lostTestRoute && this.written.testRoute) await this.writeTestRoute(this.written.testRoute);
      const back = await this.getWeights();
      if (differingRevisions(nonZero(back), nonZero(this.written.weights)).length) throw new TrafficMismatchError(`HAProxy reports ${formatWeights(back)} after zdd wrote ${formatWeights(this.written.weights)} again`);
      this.repairs++;
    } catch (e) {
      this.watchFailure = new ProviderError(`HAProxy reloaded and zdd could not write its weights again: ${errorMessage(e)}`, { changed: true, cause: e });
    }
  }

  private notePid(pid: string): void {
    if (this.pid !== undefined && pid !== this.pid) this.reloadSeen = true;
    this.pid = pid;
  }

  private throwWatchFailure(): void {
    if (this.watchFailure) throw this.watchFailure;
  }

  /** Router writes run one at a time (the reload watch and the engine share this router). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
