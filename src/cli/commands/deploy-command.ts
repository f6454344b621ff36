import { providerCandidate } from '../../providers/registry.js';
import { createContext, defaultStrategy, loadCommandConfig } from '../context.js';
import { durationFlag } from '../durations.js';
import { finish, withContext } from '../finish.js';
import type { GlobalOptions } from '../main.js';
import { revisionFromFlags } from '../revision.js';
import type { CommandIO } from '../run-cli-command.js';

interface DeployFlags {
  revision?: string;
  image?: string;
  strategy?: string;
  rollback: boolean;
  lockWait?: string;
  untilPause?: boolean;
  force?: boolean;
  detach?: boolean;
  log?: string;
}

export default async function deployCommand(flags: DeployFlags, globals: GlobalOptions, io: CommandIO): Promise<number> {
  const lockWaitMs = durationFlag('--lock-wait', flags.lockWait);
  const loaded = await loadCommandConfig(globals, io);
  const candidate = providerCandidate(revisionFromFlags(flags), loaded.config.provider as { type: string });
  const strategy = flags.strategy ?? defaultStrategy(loaded);
  if (flags.detach) {
    const { detachDeploy } = await import('../detach.js');
    const { localStateDir } = await import('../../state/create-state-store.js');
    const stateDir = localStateDir(loaded.config.state, loaded.configDir);
    return finish(io, await detachDeploy(process.argv.slice(2), { cwd: process.cwd(), log: flags.log, stateDir, now: Date.now(), signal: io.signal }));
  }
  return withContext(await createContext(globals, io, loaded), async (ctx) => {
    const outcome = await ctx.engine.deploy({ candidate, strategy, rollbackOnFailure: flags.rollback !== false, lockWaitMs, stopAtPause: !!flags.untilPause, force: !!flags.force });
    return finish(io, outcome);
  });
}
