/**
 * Entry of the local router process: `node router-main.js --state <router.json>`. Started detached
 * by the local provider; reports readiness (or why it could not listen) over the IPC channel when
 * there is one, then serves until SIGTERM/SIGINT or an admin shutdown.
 */
import { RouterServer } from './router-server.js';

type Report = { ready: true; pid: number } | { ready: false; code?: string; message: string };

function report(msg: Report): void {
  if (process.send) process.send(msg);
  if (process.connected) process.disconnect();
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--state');
  const statePath = i > 0 ? process.argv[i + 1] : undefined;
  if (!statePath) {
    console.error('usage: router-main --state <router.json>');
    process.exitCode = 2;
    return;
  }
  const server = new RouterServer(statePath);
  try {
    await server.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    console.error(`zdd router: could not start: ${err.message}`);
    report({ ready: false, code: err.code, message: err.message });
    process.exitCode = 1;
    await server.stop(0).catch(() => undefined);
    return;
  }
  console.log(`zdd router: pid ${process.pid} serving ${statePath}`);
  report({ ready: true, pid: process.pid });
  const shutdown = async (why: string) => {
    console.log(`zdd router: stopping (${why})`);
    await server.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  void server.shutdownRequested.then(() => shutdown('admin shutdown'));
}

void main();
