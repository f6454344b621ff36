import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import { dirname, join } from 'node:path';

/** Messages between the two router processes over their IPC channel. */
type LinkMessage =
  | { t: 'req'; id: number; op: string; body?: unknown }
  | { t: 'res'; id: number; body?: unknown; error?: string }
  | { t: 'listen' }
  | { t: 'ready'; pid: number }
  | { t: 'failed'; message: string; code?: string };

export type LinkRole = 'primary' | 'secondary';

/**
 * The IPC channel between the two router processes, whichever of them is the parent: requests
 * with answers (state pushes, counts), and `lost`, which resolves when the other process is gone
 * (the child exited, or the parent's channel closed). Nothing is sent per proxied request.
 */
export class PeerLink {
  readonly lost: Promise<void>;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private gone = false;

  constructor(
    private readonly end: ChildProcess | NodeJS.Process,
    private readonly onRequest: (op: string, body: any) => unknown,
    readonly peerPid: number,
  ) {
    let markLost!: () => void;
    this.lost = new Promise<void>((r) => (markLost = r));
    const lose = () => {
      if (this.gone) return;
      this.gone = true;
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error('the other router process is gone'));
      }
      this.waiting.clear();
      markLost();
    };
    end.on('message', (m: LinkMessage) => void this.receive(m));
    end.once('disconnect', lose);
    if (isChild(end)) end.once('exit', lose);
  }

  get connected(): boolean {
    return !this.gone;
  }

  /** Ask the other process; rejects after `timeoutMs` (a stopped process is slow, not gone). */
  request<T = unknown>(op: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.gone) return Promise.reject(new Error('the other router process is gone'));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the other router process (pid ${this.peerPid}) did not answer "${op}" within ${timeoutMs}ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.send({ t: 'req', id, op, body });
    });
  }

  private async receive(m: LinkMessage): Promise<void> {
    if (m?.t === 'res') {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.error) w.reject(new Error(m.error));
      else w.resolve(m.body);
    } else if (m?.t === 'req') {
      try {
        this.send({ t: 'res', id: m.id, body: await this.onRequest(m.op, m.body) });
      } catch (e) {
        this.send({ t: 'res', id: m.id, error: (e as Error).message });
      }
    }
  }

  private send(m: LinkMessage): void {
    if (this.gone || !this.end.connected) return;
    try {
      this.end.send!(m);
    } catch {
      // channel closing: `lost` follows
    }
  }
}

function isChild(end: ChildProcess | NodeJS.Process): end is ChildProcess {
  return typeof (end as ChildProcess).kill === 'function' && (end as ChildProcess).pid !== process.pid;
}

/**
 * Start the other router process, hand it the listening socket, and wait until it serves.
 * It is detached (its own session) so that no signal to one process group reaches both.
 */
export async function spawnPeer(role: LinkRole, statePath: string, listening: NetServer, timeoutMs = 15_000): Promise<ChildProcess> {
  const log = openSync(join(dirname(statePath), 'router.log'), 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...process.execArgv, process.argv[1], '--role', role, '--state', statePath], {
      detached: true,
      stdio: ['ignore', log, log, 'ipc'],
      cwd: dirname(statePath),
      env: process.env,
    });
  } finally {
    closeSync(log);
  }
  const answer = await new Promise<LinkMessage | { t: 'exit'; message: string }>((resolve) => {
    const timer = setTimeout(() => resolve({ t: 'exit', message: `no answer within ${timeoutMs / 1000}s` }), timeoutMs);
    const onMessage = (m: LinkMessage) => {
      if (m?.t !== 'ready' && m?.t !== 'failed') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ t: 'exit', message: `exited (${signal ?? `code ${code}`})` });
    });
    child.once('spawn', () => child.send({ t: 'listen' } satisfies LinkMessage, listening));
  });
  if (answer.t !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`the ${role} router process could not start: ${'message' in answer ? answer.message : 'unknown'}`);
  }
  return child;
}

/** In a process started by spawnPeer: wait for the listening socket from the process that started it. */
export function receiveListening(timeoutMs = 15_000): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listening socket was handed over')), timeoutMs);
    const onMessage = (m: LinkMessage, handle: unknown) => {
      if (m?.t !== 'listen') return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(handle as NetServer);
    };
    process.on('message', onMessage);
  });
}

/** Tell the process that started this one that it serves (or why it cannot). */
export function reportToParent(msg: { ready: true } | { ready: false; message: string; code?: string }): void {
  if (!process.send || !process.connected) return;
  process.send(msg.ready ? ({ t: 'ready', pid: process.pid } satisfies LinkMessage) : ({ t: 'failed', message: msg.message, code: msg.code } satisfies LinkMessage));
}
