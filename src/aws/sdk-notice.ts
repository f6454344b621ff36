import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Node major the AWS SDK for JavaScript v3 requires from its releases after the first week of January 2027. */
const SDK_NODE_MAJOR = 22;
/** The SDK's own switch for its Node-version warning; it silences that warning only. */
const SDK_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

let prepared = false;

/**
 * Call before the first AWS SDK client exists. Under Node < 22 the SDK prints a 9-line warning on
 * every AWS command; zdd turns that one warning off (other warnings are untouched) and instead
 * says it in one line, at most once a day per machine (a date stamp in the user's cache
 * directory). A user who set the SDK's switch themselves sees nothing.
 */
export function prepareAwsSdk(opts: { env?: NodeJS.ProcessEnv; nodeVersion?: string; now?: Date; write?: (line: string) => void } = {}): void {
  const env = opts.env ?? process.env;
  if (prepared && !opts.env) return;
  prepared = true;
  if (env[SDK_SWITCH] === 'true') return;
  const version = opts.nodeVersion ?? process.version;
  if (Number(version.replace(/^v/, '').split('.')[0]) >= SDK_NODE_MAJOR) return;
  env[SDK_SWITCH] = 'true';
  const today = (opts.now ?? new Date()).toISOString().slice(0, 10);
  const dir = join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'zdd');
  const stamp = join(dir, 'aws-sdk-node-notice');
  try {
    if (readFileSync(stamp, 'utf8').trim() === today) return;
  } catch {
    // no stamp yet: show it
  }
  (opts.write ?? ((l) => process.stderr.write(l)))(
    `zdd: note: AWS SDK releases after January 2027 need Node.js ${SDK_NODE_MAJOR} or newer and this is Node.js ${version}; upgrade Node to keep getting AWS fixes (https://a.co/c895JFp). Shown once a day.\n`,
  );
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(stamp, `${today}\n`);
  } catch {
    // an unwritable cache shows the line again next time, which is fine
  }
}
