import { connect, type Socket } from 'node:net';
import { ProviderError } from '../../core/errors.js';

/** How long one Runtime API session may take before it is given up (connect, commands, answers). */
const DEFAULT_TIMEOUT_MS = 5_000;
/** A reload (`haproxy -sf`) rebinds the stats socket: connection refusals this long are retried. */
const RECONNECT_WINDOW_MS = 2_000;
const RECONNECT_PAUSE_MS = 50;

/** Where HAProxy's Runtime API listens: a unix socket path or `host:port`. */
export type RuntimeApiAddress = { path: string } | { host: string; port: number };

export function parseRuntimeApiAddress(s: string): RuntimeApiAddress {
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (m && !s.startsWith('/') && !s.startsWith('.')) return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  return { path: s.replace(/^unix:\/\//, '') };
}

export function describeAddress(a: RuntimeApiAddress): string {
  return 'path' in a ? `unix socket ${a.path}` : `${a.host}:${a.port}`;
}

/** A command HAProxy answered with an error (its own words), e.g. `No such server.` */
export class RuntimeApiCommandError extends Error {
  constructor(
    readonly command: string,
    readonly answer: string,
  ) {
    super(`HAProxy refused "${command}": ${answer.trim()}`);
    this.name = 'RuntimeApiCommandError';
  }
}

/** Answers that mean the command failed (HAProxy answers success with nothing, or with a note). */
const FAILURE_ANSWERS = [
  /permission denied/i,
  /^unknown command/im,
  /no such (server|backend|frontend|proxy|map|table)/i,
  /can't find (backend|server|frontend|proxy)/i,
  /^require /im,
  /invalid/i,
  /key not found/i,
  /unknown map identifier/i,
  /out of memory/i,
  /failed/i,
  /not allowed/i,
  /^usage/im,
  /expects/i,
];

/** True when `answer` says the command failed. `set server … addr` answers a note on success. */
export function isFailureAnswer(answer: string): boolean {
  const a = answer.trim();
  if (!a) return false;
  if (/^no need to change|changed from|^IP changed|port changed/i.test(a)) return false;
  return FAILURE_ANSWERS.some((re) => re.test(a));
}

/**
 * HAProxy's Runtime API (the stats socket). Each `session` is one connection in interactive
 * ("prompt") mode, so that commands run in order and each answer is read on its own. Nothing is
 * cached: every read asks HAProxy.
 */
export class RuntimeApi {
  readonly address: RuntimeApiAddress;
  constructor(
    address: string | RuntimeApiAddress,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.address = typeof address === 'string' ? parseRuntimeApiAddress(address) : address;
  }

  get where(): string {
    return describeAddress(this.address);
  }

  /** One command, its answer (errors in the answer are the caller's to judge, see `execute`). */
  async ask(command: string): Promise<string> {
    return (await this.session([command]))[0];
  }

  /** Commands run in order on one connection; throws RuntimeApiCommandError at the first refused one (the rest do not run). */
  async execute(commands: string[]): Promise<string[]> {
    return this.session(commands, true);
  }

  /** Run `commands` on one connection; with `stopOnError`, stop at the first answer that is an error. */
  async session(commands: string[], stopOnError = false): Promise<string[]> {
    const started = Date.now();
    for (;;) {
      try {
        return await this.once(commands, stopOnError);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A reload unlinks and rebinds the socket: the new process answers within moments.
        if ((code === 'ECONNREFUSED' || code === 'ENOENT') && Date.now() - started < RECONNECT_WINDOW_MS) {
          await new Promise((r) => setTimeout(r, RECONNECT_PAUSE_MS));
          continue;
        }
        throw this.unreachable(e);
      }
    }
  }

  private once(commands: string[], stopOnError: boolean): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const socket: Socket = 'path' in this.address ? connect(this.address.path) : connect(this.address.port, this.address.host);
      const answers: string[] = [];
      let buf = '';
      let next = 0;
      let greeted = false;
      let settled = false;
      const finish = (err: unknown, value?: string[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => finish(Object.assign(new Error(`no answer within ${this.timeoutMs}ms`), { code: 'ETIMEDOUT' })), this.timeoutMs);
      const send = () => {
        if (next >= commands.length) {
          socket.end('quit\n');
          finish(null, answers);
          return;
        }
        const cmd = commands[next++];
        if (/[\n\r]/.test(cmd)) return finish(new Error(`command contains a line break: ${JSON.stringify(cmd)}`));
        socket.write(`${cmd}\n`);
      };
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write('prompt\n'));
      socket.on('data', (d: string) => {
        buf += d;
        // In prompt mode every answer (and the greeting) ends with "\n> "; one command is in flight at a time.
        if (!buf.endsWith('\n> ')) return;
        const answer = buf.slice(0, -3).replace(/\n+$/, '');
        buf = '';
        if (!greeted) {
          greeted = true;
        } else {
          answers.push(answer);
          if (stopOnError && isFailureAnswer(answer)) return finish(new RuntimeApiCommandError(commands[next - 1], answer));
        }
        send();
      });
      socket.on('error', (e) => finish(e));
      socket.on('close', () => finish(Object.assign(new Error('HAProxy closed the connection before answering'), { code: 'ECONNRESET' })));
    });
  }

  private unreachable(e: unknown): ProviderError {
    if (e instanceof RuntimeApiCommandError || e instanceof ProviderError) return e as ProviderError;
    const err = e as NodeJS.ErrnoException;
    const where = this.where;
    const hint =
      'path' in this.address
        ? `Check that HAProxy runs and that its global section has \`stats socket ${this.address.path} mode 600 level admin\` (and that this user may open it); docs/haproxy.md shows the haproxy.cfg zdd needs.`
        : `Check that HAProxy runs and has \`stats socket ipv4@${this.address.host}:${this.address.port} level admin\` in its global section; docs/haproxy.md shows the haproxy.cfg zdd needs.`;
    const why =
      err.code === 'ENOENT'
        ? 'the socket file does not exist'
        : err.code === 'ECONNREFUSED'
          ? 'nothing accepts connections there'
          : err.code === 'EACCES'
            ? 'permission denied opening the socket'
            : err.message;
    return new ProviderError(`HAProxy's Runtime API at ${where} is not reachable: ${why}`, { hint, cause: e, code: 'haproxy-unreachable' });
  }
}
