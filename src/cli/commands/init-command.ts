import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { PROVIDER_MANIFEST, providerFlags, type ProviderManifest } from '../../providers/provider-manifest.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function initCommand(flags: { provider: string; output: string; force?: boolean } & Record<string, unknown>, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const path = resolve(process.cwd(), flags.output);
  if (existsSync(path) && !flags.force && !globals.yes) {
    throw new UsageError(`${path} already exists; nothing was written`, 'Pass --force to overwrite it, or --output <path> to write elsewhere.');
  }
  const manifest = (PROVIDER_MANIFEST as Record<string, ProviderManifest>)[flags.provider];
  if (!manifest?.initTemplate) throw new UsageError(`zdd init has no template for provider "${flags.provider}"`, 'Use --provider local or --provider aws.');
  // The provider's own flags (aws: --region, --profile) are written into the config only when given.
  const template = await manifest.initTemplate(providerFlags(flags.provider, flags));
  await writeFile(path, template, { mode: 0o644 });
  return finish(io, {
    result: 'succeeded',
    exitCode: ExitCode.Ok,
    message: `Wrote ${path} for the ${flags.provider} provider. Edit it, then run \`zdd validate\` and \`zdd plan\`.`,
  });
}
