// Preloaded with `node --import` by the test harnesses (startZdd's fastClock, localProject's):
// installs a fast-forward clock in the built CLI, so every wait (bake, health poll, drain) returns
// at once with time jumping ahead. Production has no switch for this: the module lives under test/.
// It installs into the very copy bin/zdd.js runs: the bundle when it is built, else tsc's output.
import { existsSync } from 'node:fs';

const bundled = existsSync(new URL('../../dist/bundle/main.js', import.meta.url));
const base = bundled ? '../../dist/bundle/' : '../../dist/src/';
const { installCommandClock } = await import(new URL(bundled ? `${base}main.js` : `${base}cli/main.js`, import.meta.url).href);
const { FakeClock } = await import(new URL(bundled ? `${base}index.js` : `${base}core/clock.js`, import.meta.url).href);

await installCommandClock(new FakeClock(Date.now(), true));
