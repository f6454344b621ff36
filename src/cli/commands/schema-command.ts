import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode } from '../../core/exit-codes.js';
import { UsageError, errorMessage } from '../../core/errors.js';
import { configJsonSchema } from '../../config/json-schema.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

/**
 * Prints the config's JSON Schema. On stdout without --json it prints the schema and nothing else
 * (no closing status line), so `zdd schema > zdd.schema.json` is a valid file.
 */
export default async function schemaCommand(flags: { output?: string }, _globals: GlobalOptions, io: CommandIO): Promise<number> {
  const schema = configJsonSchema();
  if (flags.output) {
    const path = resolve(flags.output);
    try {
      await writeFile(path, `${JSON.stringify(schema, null, 2)}\n`);
    } catch (e) {
      throw new UsageError(`Could not write the schema to ${path}: ${errorMessage(e)}`, 'Check that the directory exists and is writable.');
    }
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: `JSON Schema written to ${flags.output}; point "$schema" (JSON) or "# yaml-language-server: $schema=" (YAML) at it.` });
  }
  if (io.output.json) {
    io.output.data({ type: 'schema', schema });
    return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: 'JSON Schema printed.' });
  }
  process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return ExitCode.Ok;
}
