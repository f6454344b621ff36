// A real process racing on a file lock store (test/state/lock-race.test.ts). Built code only:
// run `npm run build` first. Argument: JSON { dir, mode, services, go, clockOffsetMs?, label }.
// Prints one JSON line per operation: { i, op, ok, token?, code? }, then { done: true }, and
// stays alive until the test kills it.
import { existsSync } from 'node:fs';
import { FakeClock, systemClock } from '../../dist/src/core/clock.js';
import { FileLockStore } from '../../dist/src/state/file-state-store.js';
import { currentHolder } from '../../dist/src/state/lock-holder.js';

const cfg = JSON.parse(process.argv[2]);
// A clock in the past makes this holder's heartbeats look stale to everyone else (a hung holder).
const clock = cfg.clockOffsetMs ? new FakeClock(Date.now() + cfg.clockOffsetMs) : systemClock;
const store = new FileLockStore(cfg.dir, clock);
const holder = { ...currentHolder(cfg.label, Date.now()), deploymentId: 'd1' };
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const services = Array.from({ length: cfg.services }, (_, i) => `s${i}`);

async function attempt(i, op, fn) {
  try {
    const token = await fn();
    say({ i, op, ok: true, token });
  } catch (e) {
    say({ i, op, ok: false, code: e.code ?? e.message, name: e.name });
  }
}

async function waitForGo() {
  // Bounded: 20s, 1ms polls, so both racers start within a millisecond or two of each other.
  const until = Date.now() + 20_000;
  while (!existsSync(cfg.go)) {
    if (Date.now() > until) throw new Error('no go signal');
    await new Promise((r) => setTimeout(r, 1));
  }
}

if (cfg.mode === 'hold-and-exit') {
  const lease = await store.acquire('web', holder, { waitMs: 0 });
  say({ op: 'acquire', ok: true, token: lease.token, pid: process.pid });
  // Stay until killed: the test kills this process with SIGKILL.
  setInterval(() => undefined, 1000);
} else if (cfg.mode === 'takeover') {
  say({ ready: true });
  await waitForGo();
  for (const [i, s] of services.entries()) {
    // `pace`: a few reads first, a different number each round, so the take-over lands at every
    // point of the other process's heartbeat/heartbeat/heartbeat/release sequence.
    for (let n = 0; n < (cfg.pace ? i % 6 : 0); n++) await store.inspect(s);
    await attempt(i, 'takeover', async () => (await store.takeOver(s, holder, 'd1')).token);
  }
  say({ done: true });
  // Stay alive holding what was won (a holder that exits is gone, and its locks are stale): the test kills it.
  setInterval(() => undefined, 1000);
} else if (cfg.mode === 'hold-beat-release') {
  const leases = [];
  for (const s of services) leases.push(await store.acquire(s, holder, { waitMs: 0 }));
  say({ ready: true, tokens: leases.map((l) => l.token) });
  await waitForGo();
  for (const [i, lease] of leases.entries()) {
    for (let n = 0; n < 3; n++) await attempt(i, 'heartbeat', async () => (await lease.heartbeat(), lease.token));
    await attempt(i, 'release', async () => (await lease.release(), lease.token));
  }
  say({ done: true });
} else {
  throw new Error(`unknown mode ${cfg.mode}`);
}
