import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode } from '../../core/exit-codes.js';
import { UsageError } from '../../core/errors.js';
import { PROVIDER_MANIFEST, ROUTER_MANIFEST, providerFlags, routersOf, type ProviderManifest, type RouterManifest } from '../../providers/provider-manifest.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function initCommand(flags: { provider: string; router?: string; output: string; force?: boolean } & Record<string, unknown>, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const path = resolve(process.cwd(), flags.output);
  if (existsSync(path) && !flags.force && !globals.yes) {
    throw new UsageError(`${path} already exists; nothing was written`, 'Pass --force to overwrite it, or --output <path> to write elsewhere.');
  }
  const manifest = (PROVIDER_MANIFEST as Record<string, ProviderManifest>)[flags.provider];
  if (!manifest?.initTemplate) throw new UsageError(`zdd init has no template for provider "${flags.provider}"`, 'Use --provider local or --provider aws.');
  const routers = routersOf(flags.provider);
  if (flags.router && !routers.includes(flags.router as never)) {
    throw new UsageError(`router "${flags.router}" cannot stand in front of platform "${flags.provider}"; nothing was written`, `Platform ${flags.provider} can use: ${routers.join(', ')}.`);
  }
  const router = flags.router ? (ROUTER_MANIFEST as Record<string, RouterManifest>)[flags.router] : undefined;
  // The platform's own router is in its template already; another router brings its block.
  const snippet = flags.router && flags.router !== routers[0] ? await router?.initSnippet?.() : undefined;
  // The provider's own flags (aws: --region, --profile) are written into the config only when given.
  const template = await manifest.initTemplate(providerFlags(flags.provider, flags), snippet);
  await writeFile(path, template, { mode: 0o644 });
  return finish(io, {
    result: 'succeeded',
    exitCode: ExitCode.Ok,
    message: `Wrote ${path} for the ${flags.provider} provider. Edit it, then run \`zdd validate\` and \`zdd plan\`.`,
  });
}
