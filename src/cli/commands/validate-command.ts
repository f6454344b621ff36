import { ExitCode } from '../../core/exit-codes.js';
import { resolveStrategy, loadCommandConfig } from '../command-start.js';
import { finish } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import type { CommandIO } from '../run-cli-command.js';

export default async function validateCommand(_flags: unknown, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const loaded = await loadCommandConfig(globals, io);
  const { config } = loaded;
  if (config.strategies?.default) resolveStrategy(loaded, config.strategies.default);
  const gates = Object.keys(config.gates ?? {});
  const summary = `Config ${loaded.configPath} is valid: service ${config.service}, provider ${config.provider.type}, ${config.replicas ?? 1} replica(s)` +
    `${gates.length ? `, gates ${gates.join(', ')}` : ''}${loaded.env ? `, environment ${loaded.env}` : ''}.`;
  if (io.output.json) io.output.data({ type: 'config', path: loaded.configPath, service: config.service, provider: config.provider.type, gates });
  return finish(io, { result: 'succeeded', exitCode: ExitCode.Ok, message: summary });
}
