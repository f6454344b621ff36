// Preloaded with `node --import` by the test harnesses (startZdd's fastClock, localProject's):
// installs a fast-forward clock in the built CLI, so every wait (bake, health poll, drain) returns
// at once with time jumping ahead. Production has no switch for this: the module lives under test/.
import { installCommandClock } from '../../dist/src/cli/context.js';
import { FakeClock } from '../../dist/src/core/clock.js';

installCommandClock(new FakeClock(Date.now(), true));
