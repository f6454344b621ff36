// A tiny HTTP app for trying zdd locally. It answers its revision.
//   PORT          port to listen on (the local provider sets it)
//   ZDD_REVISION  revision name (or the first argument)
// A revision whose name contains "bad" answers 500 on a share of requests (BAD_SHARE, default 0.3);
// one containing "crash" exits at start. GET /health answers 200, GET /slow?ms=N waits N ms.
import { createServer } from 'node:http';

const revision = process.env.ZDD_REVISION ?? process.argv[2] ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
const badShare = Number(process.env.BAD_SHARE ?? 0.3);

if (revision.includes('crash')) {
  console.error(`revision ${revision}: crashing at start on purpose`);
  process.exit(3);
}

let served = 0;
let badDebt = 0;
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://app');
  res.setHeader('x-revision', revision);
  if (url.pathname === '/health') {
    res.end('ok\n');
    return;
  }
  served++;
  if (revision.includes('bad')) {
    // Deterministic share: exactly badShare of requests over any run fail.
    badDebt += badShare;
    if (badDebt >= 1) {
      badDebt -= 1;
      res.statusCode = 500;
      res.end(`${revision} failed on purpose\n`);
      return;
    }
  }
  const ms = url.pathname === '/slow' ? Math.min(Number(url.searchParams.get('ms') ?? 100), 30_000) : 0;
  const answer = () => res.end(`${revision}\n`);
  if (ms > 0) setTimeout(answer, ms);
  else answer();
});
server.keepAliveTimeout = 70_000;

server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  console.log(`revision ${revision} listening on ${port} (pid ${process.pid})`);
});

// Finish what is in flight, then leave: zdd sends SIGTERM only after the router drained us.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    console.log(`revision ${revision}: ${sig} after ${served} requests, closing`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
