// Preloaded with `node --import` by tests that kill zdd "the instant a write lands": after the Nth
// rename onto ZDD_TEST_HOLD_PATH (ZDD_TEST_HOLD_AT, default 1), the whole process stops where it is
// (the write landed, nothing after it has run) for up to 60 s, so the test's SIGKILL always finds it
// there however loaded the machine is. Only the test suite loads this file.
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';

const path = process.env.ZDD_TEST_HOLD_PATH && resolve(process.env.ZDD_TEST_HOLD_PATH);
const at = Number(process.env.ZDD_TEST_HOLD_AT ?? 1);
if (path) {
  const rename = fsp.rename;
  let count = 0;
  fsp.rename = async function (from, to) {
    await rename.call(this, from, to);
    if (resolve(String(to)) === path && ++count === at) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  };
  syncBuiltinESMExports();
}
