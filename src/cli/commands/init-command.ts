import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function initCommand(flags: { provider: 'local' | 'aws'; output: string; force?: boolean }, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const path = resolve(process.cwd(), flags.output);
  if (existsSync(path) && !flags.force && !globals.yes) {
    throw new UsageError(`${path} already exists; nothing was written`, 'Pass --force to overwrite it, or --output <path> to write elsewhere.');
  }
  const template =
    flags.provider === 'aws'
      ? (await import('../../providers/aws/init-template.js')).awsInitTemplate
      : (await import('../local-init-template.js')).localInitTemplate;
  await writeFile(path, template, { mode: 0o644 });
  return finish(io, {
    result: 'succeeded',
    exitCode: ExitCode.Ok,
    message: `Wrote ${path} for the ${flags.provider} provider. Edit it, then run \`zdd validate\` and \`zdd plan\`.`,
  });
}
