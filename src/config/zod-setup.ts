import { z } from 'zod';

/**
 * A command validates its config once: zod's compiled fast path (a `new Function` per object schema)
 * costs more to build than it saves on a single parse. zod reads this setting when a schema is
 * built, not when it parses, so this module must run before any schema module: it is the first
 * import of src/cli/run-cli-command.ts, which every command goes through before its own modules load.
 */
z.config({ jitless: true });
