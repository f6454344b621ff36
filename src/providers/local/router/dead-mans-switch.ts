import { hostname } from 'node:os';
import { systemClock } from '../../../core/clock.js';
import type { WeightMap } from '../../../core/provider.js';
import { FileLockStore, FileRecordStore } from '../../../state/file-state-store.js';
import type { LockStore, RecordStore } from '../../../core/state.js';
import { DEAD_MANS_SWITCH, type DeadMansSwitchEvent, type RouterState } from '../router-state.js';

/**
 * The router's own guard for a deploy that died half-way: when the lock of the service is stale
 * (its holder's process is gone, or its lease ran out) while the deployment record says a deploy
 * of a guarded strategy is running and its candidate has weight, the router puts 100% back on
 * stable, drops the test route, and records why (router.json, shown by `zdd status`). It reads
 * the lock and the record through the state store's interfaces, never their files directly.
 *
 * It fences before it acts: it takes the stale lock (conditional on the lock it read, so a holder
 * that wakes up and renews first keeps it and the switch stands down), restores, then frees the
 * lock saying why. A frozen deploy that wakes up afterwards finds its lock gone at its next
 * heartbeat and stops before any change, so it never undoes the switch.
 */
export class DeadMansSwitch {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastRefusal = '';

  constructor(
    private readonly state: () => RouterState,
    private readonly restore: (weights: WeightMap, event: DeadMansSwitchEvent) => Promise<void>,
  ) {}

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.check();
      } catch (e) {
        console.error(`zdd router: dead-man's switch could not check the lock: ${(e as Error).message}`);
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.state().deadMansSwitch?.intervalMs ?? 1_000).unref();
    };
    this.timer = setTimeout(() => void tick(), this.state().deadMansSwitch?.intervalMs ?? 1_000).unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Tell the deploy's own record (and so `zdd report` and the rollback that follows) that its
   * process died and the router put stable back. Written while the switch holds the lock: the
   * only writer then. A record that cannot be written costs only the note: traffic is back already.
   */
  private async noteInRecord(records: RecordStore, deploymentId: string, event: DeadMansSwitchEvent, lastHeard: string): Promise<void> {
    try {
      const record = await records.latest(this.state().service);
      if (record?.id !== deploymentId) return;
      const note = { at: event.at, run: 'dead-mans-switch', kind: 'dead-mans-switch' as const, reason: event.reason, restored: event.restored, weightsBefore: event.weightsBefore, lastHeard, watchdog: DEAD_MANS_SWITCH.name };
      await records.save({ ...record, timeline: [...(record.timeline ?? []), note] });
    } catch (e) {
      console.error(`zdd router: dead-man's switch could not note the restore in deploy ${deploymentId}'s record: ${(e as Error).message}`);
    }
  }

  /** One look at the lock and the record; restores stable when the deploy holding the lock is gone. */
  async check(): Promise<boolean> {
    const state = this.state();
    const cfg = state.deadMansSwitch;
    if (!cfg) return false;
    const shifted = Object.values(state.weights).some((w) => w > 0 && w < 100);
    const locks: LockStore = new FileLockStore(cfg.stateDir, systemClock);
    const lock = await locks.inspect(state.service);
    if (!lock?.stale) return false;
    const records: RecordStore = new FileRecordStore(cfg.stateDir);
    const record = await records.latest(state.service);
    if (!record || (record.status !== 'running' && record.status !== 'rolling-back')) return false;
    if (!cfg.strategies.includes(record.strategy)) return false;
    const stable = record.stable?.id;
    const candidate = record.candidate.id;
    if (!stable || !((state.weights[candidate] ?? 0) > 0) || (!shifted && state.weights[stable] === 100)) return false;
    // The state may have changed while the files were read.
    const now = this.state();
    if (!((now.weights[candidate] ?? 0) > 0)) return false;
    if (!now.instances.some((i) => i.revision === stable && i.status === 'ready')) {
      const why = `stable ${stable} has no healthy instance left`;
      if (why !== this.lastRefusal) console.error(`zdd router: dead-man's switch: the deploy holding the lock is gone, but ${why}; traffic stays as it is`);
      this.lastRefusal = why;
      return false;
    }
    const h = lock.holder;
    const event: DeadMansSwitchEvent = {
      at: new Date().toISOString(),
      deploymentId: record.id,
      reason: `the ${record.strategy} deploy ${record.id} holding the lock (${h.who}@${h.host}, pid ${h.pid}${h.command ? `, \`zdd ${h.command}\`` : ''}) stopped answering: ${lock.staleReason ?? 'stale lock'}`,
      weightsBefore: { ...now.weights },
      restored: stable,
    };
    // `command` as before watchdogs named themselves, for a zdd of that time reading the lock.
    const fence = await locks.fence(state.service, record.id, { who: 'zdd-router', host: hostname(), pid: process.pid, since: event.at, command: "local router's dead-man's switch", watchdog: DEAD_MANS_SWITCH });
    if (!fence) return false; // the holder renewed (or someone took over) since the look above
    console.error(`zdd router: dead-man's switch: ${event.reason}; putting 100% back on ${stable}`);
    try {
      await this.restore({ [stable]: 100 }, event);
      await this.noteInRecord(records, record.id, event, lock.heartbeat);
    } finally {
      await fence.free(`put traffic back on stable (${lock.staleReason ?? 'stale lock'}; 100% back on ${stable})`);
    }
    return true;
  }
}
