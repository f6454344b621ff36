import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/**
 * Errors are recognised by a brand, not by identity: a config or plugin may load its own copy of
 * zdd's classes (a TypeScript config importing src/ through jiti, a plugin with its own zdd), and
 * `instanceof ProviderError` must still be true for its errors.
 */
const BRAND = Symbol.for('zdd.error.kinds');

/**
 * Every error zdd means to show a person. `hint` says how to fix it; `exitCode` is what the CLI
 * exits with when nothing else decides (the engine maps failures during a deploy itself).
 */
export class ZddError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  /** Machine-readable kind, stable for --json consumers. */
  readonly code: string;

  static override [Symbol.hasInstance](value: unknown): boolean {
    const kinds = (value as { [BRAND]?: unknown } | null)?.[BRAND];
    return Array.isArray(kinds) && kinds.includes(this.name);
  }

  constructor(code: string, message: string, opts: { exitCode?: ExitCodeValue; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    const kinds: string[] = [];
    for (let c = new.target as unknown as { name: string } | null; c && c.name; c = Object.getPrototypeOf(c)) kinds.push(c.name);
    Object.defineProperty(this, BRAND, { value: kinds, enumerable: false });
    this.name = 'ZddError';
    this.code = code;
    this.exitCode = opts.exitCode ?? ExitCode.RolledBack;
    this.hint = opts.hint;
  }
}

/** Bad flags or arguments. Nothing changed. */
export class UsageError extends ZddError {
  constructor(message: string, hint?: string) {
    super('usage', message, { exitCode: ExitCode.Usage, hint });
    this.name = 'UsageError';
  }
}

export interface ConfigIssue {
  /** Dotted path with indexes, e.g. `strategies.canary.steps[2].weight`. */
  path: string;
  message: string;
}

/** Invalid configuration: carries every problem found, not just the first. Nothing changed. */
export class ConfigError extends ZddError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source?: string) {
    const where = source ? ` in ${source}` : '';
    const lines = issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`);
    super('config', `Invalid configuration${where} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, {
      exitCode: ExitCode.Usage,
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export interface LockHolderInfo {
  who: string;
  host: string;
  pid: number;
  since: string;
  command?: string;
  ciRunUrl?: string;
  deploymentId?: string;
  /** Set when the holder is a provider's watchdog fencing a dead deploy's lock for a moment (LockStore.fence). */
  watchdog?: { name: string; action: string };
  /**
   * Random per acquisition: the holder's identity is (host, pid, token), never the pid alone (CI
   * containers share pids). Every heartbeat, take-over and release is conditional on it.
   */
  token?: string;
}

/** Another deploy holds the service lock. Nothing changed. */
export class LockHeldError extends ZddError {
  readonly holder: LockHolderInfo;
  readonly stale: boolean;
  constructor(service: string, holder: LockHolderInfo, stale: boolean, staleReason?: string) {
    const ci = holder.ciRunUrl ? `, CI run ${holder.ciRunUrl}` : '';
    super(
      'lock-held',
      `Service "${service}" is locked by ${holder.who}@${holder.host} (pid ${holder.pid}${ci}) since ${holder.since}` +
        (stale ? ` — the lock looks stale: ${staleReason ?? 'holder is gone'}` : ''),
      {
        exitCode: ExitCode.LockHeld,
        hint: stale
          ? 'If its run was killed, `zdd status` shows what it left, and `zdd rollback` (or `zdd promote`) takes the lock over to finish it. If no deploy is running at all, release the lock with `zdd lock release --force`.'
          : 'Wait for it to finish, or pass --lock-wait <duration> to wait.',
      },
    );
    this.name = 'LockHeldError';
    this.holder = holder;
    this.stale = stale;
  }
}

/**
 * This process no longer holds the service lock (its heartbeat failed, its lease expired, or another
 * holder took over / force-released it). It must stop before its next write and must not roll back
 * on its own: the new holder owns production now. Exit 4: a person should look.
 */
export class LockLostError extends ZddError {
  /** Who holds the lock now, when known. */
  readonly holder: LockHolderInfo | null;
  /** Why, in words (who took or freed it). */
  readonly reason: string;
  constructor(service: string, reason: string, holder: LockHolderInfo | null) {
    const now = holder ? ` It is now held by ${holder.who}@${holder.host} (pid ${holder.pid}${holder.command ? `, ${holder.command}` : ''}) since ${holder.since}.` : '';
    super('lock-lost', `Lost the lock of service "${service}": ${reason}.${now} Stopped before the next change.`, {
      exitCode: ExitCode.NeedsPerson,
      hint: holder
        ? 'The new holder owns production now: follow it with `zdd status`.'
        : 'Run `zdd status` to see where production is, then `zdd rollback` or `zdd promote` to finish.',
    });
    this.name = 'LockLostError';
    this.holder = holder;
    this.reason = reason;
  }
}

/**
 * A provider failed. `changed` says whether production may have been touched: false maps to
 * exit 5 (nothing changed), true lets the engine roll back.
 */
export class ProviderError extends ZddError {
  readonly changed: boolean;
  constructor(message: string, opts: { hint?: string; cause?: unknown; changed?: boolean; code?: string } = {}) {
    super(opts.code ?? 'provider', message, { exitCode: ExitCode.ProviderBeforeChange, hint: opts.hint, cause: opts.cause });
    this.name = 'ProviderError';
    this.changed = opts.changed ?? false;
  }
}

/** A check or gate said no. */
export class CheckFailedError extends ZddError {
  constructor(message: string, hint?: string) {
    super('check-failed', message, { exitCode: ExitCode.RolledBack, hint });
    this.name = 'CheckFailedError';
  }
}

/** A hook exited non-zero, timed out or could not start. */
export class HookFailedError extends ZddError {
  constructor(message: string, hint?: string) {
    super('hook-failed', message, { exitCode: ExitCode.RolledBack, hint });
    this.name = 'HookFailedError';
  }
}

/** The traffic read back from the router is not what was written. */
export class TrafficMismatchError extends ZddError {
  constructor(message: string) {
    super('traffic-mismatch', message, { exitCode: ExitCode.RolledBack });
    this.name = 'TrafficMismatchError';
  }
}

/** The run was interrupted by SIGINT/SIGTERM or `zdd abort`. */
export class InterruptedError extends ZddError {
  readonly signal: string;
  constructor(signal: string) {
    super('interrupted', `Interrupted by ${signal}`, { exitCode: ExitCode.Interrupted });
    this.name = 'InterruptedError';
    this.signal = signal;
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
