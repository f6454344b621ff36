/**
 * Parsers for the Runtime API's answers (`show servers state`, `show stat`, `show info`,
 * `show map`). Pure functions: tested on HAProxy's own output.
 */

/** Admin-state bits of `show servers state` (management guide, 9.3). */
const ADMIN = { FMAINT: 0x01, IMAINT: 0x02, CMAINT: 0x04, FDRAIN: 0x08, IDRAIN: 0x10, RMAINT: 0x20, HMAINT: 0x40 } as const;

/** One server of a backend, as `show servers state` reports it. */
export interface ServerState {
  backend: string;
  name: string;
  /** `host:port` the server points at. */
  address: string;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  adminState: number;
  /** The weight set by config or `set weight` (0–256). */
  weight: number;
  /** The name the server is declared with in haproxy.cfg, undefined when it is declared with an address. */
  fqdn?: string;
}

/** Forced or inherited maintenance: takes no traffic and is free for zdd to reuse when it is a slot. */
export function inMaintenance(s: ServerState): boolean {
  return (s.adminState & (ADMIN.FMAINT | ADMIN.IMAINT | ADMIN.RMAINT)) !== 0 || (s.opState === 0 && (s.adminState & ADMIN.CMAINT) !== 0);
}

export function draining(s: ServerState): boolean {
  return (s.adminState & (ADMIN.FDRAIN | ADMIN.IDRAIN)) !== 0;
}

/** The weight HAProxy balances with: the set weight unless the server is in maintenance or draining. */
export function effectiveWeight(s: ServerState): number {
  return inMaintenance(s) || draining(s) ? 0 : s.weight;
}

/** Parse `show servers state [<backend>]` (format version 1). */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines[0] !== '1') throw new Error(`unexpected "show servers state" format: ${JSON.stringify(lines[0] ?? '')}`);
  const header = (lines.find((l) => l.startsWith('#')) ?? '').replace(/^#\s*/, '').split(/\s+/);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`"show servers state" has no column ${name}`);
    return i;
  };
  const [be, srv, addr, op, admin, weight, port] = ['be_name', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_uweight', 'srv_port'].map(col);
  const fqdn = header.indexOf('srv_fqdn');
  return lines
    .slice(1)
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.split(/\s+/))
    .map((f) => ({
      backend: f[be],
      name: f[srv],
      address: `${f[addr]}:${f[port]}`,
      opState: Number(f[op]),
      adminState: Number(f[admin]),
      weight: Number(f[weight]),
      ...(fqdn >= 0 && f[fqdn] && f[fqdn] !== '-' ? { fqdn: f[fqdn] } : {}),
    }));
}

/** The counters zdd reads per server from `show stat`. */
export interface ServerCounters {
  backend: string;
  name: string;
  address: string;
  /** HTTP responses (any status) the server's requests ended with, HAProxy's own 5xx for it included. */
  responses: number;
  errors5xx: number;
  /** Current sessions (requests in flight or connections held) on the server. */
  current: number;
  status: string;
  /** The value of the backend's persistence cookie that pins a client to this server ('' when none). */
  cookie: string;
}

/** Parse `show stat` CSV: server rows only. */
export function parseStat(text: string): ServerCounters[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const head = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const idx = (n: string) => head.indexOf(n);
  const num = (f: string[], n: string) => Number(f[idx(n)] || 0);
  return lines
    .slice(1)
    .map((l) => l.split(','))
    .filter((f) => f[idx('svname')] !== 'FRONTEND' && f[idx('svname')] !== 'BACKEND' && f[idx('type')] === '2')
    .map((f) => ({
      backend: f[idx('pxname')],
      name: f[idx('svname')],
      address: f[idx('addr')],
      responses: ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'].reduce((n, k) => n + num(f, k), 0),
      errors5xx: num(f, 'hrsp_5xx'),
      current: num(f, 'scur'),
      status: f[idx('status')],
      cookie: f[idx('cookie')] ?? '',
    }));
}

/** The name of the cookie a backend pins clients with (`cookie <name> insert …`), from its `show stat` row; undefined when it pins no one. */
export function persistenceCookie(text: string, backend: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim());
  const head = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const row = lines
    .slice(1)
    .map((l) => l.split(','))
    .find((f) => f[head.indexOf('pxname')] === backend && f[head.indexOf('svname')] === 'BACKEND');
  const name = row?.[head.indexOf('cookie')];
  return name ? name : undefined;
}

/** `show info` as name → value. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** `2.6.12-1+deb12u4` → [2, 6]. */
export function majorMinor(version: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** `show map <file>` lines (`<ref> <key> <value>`) as key → value. */
export function parseMap(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 3 && f[0].startsWith('0x')) out.set(f[1], f.slice(2).join(' '));
  }
  return out;
}
