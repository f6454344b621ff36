import type { DrainFacts } from '../../core/provider.js';
import type { DeploymentObject } from './deployment-platform.js';

/** The kubelet's SIGTERM-to-SIGKILL time when a pod template sets none. */
export const DEFAULT_TERMINATION_GRACE_S = 30;

interface PreStopHandler {
  sleep?: { seconds?: number };
  exec?: { command?: string[] };
  httpGet?: unknown;
}

/**
 * What the kubelet waits when it stops a pod of the template Deployment (every revision is a copy):
 * terminationGracePeriodSeconds, and each container's preStop hook with its sleep when the hook is
 * a sleep (the `sleep` action, or an exec of `sleep N`).
 */
export function podDrainFacts(d: DeploymentObject): DrainFacts {
  const spec = d.spec.template.spec as DeploymentObject['spec']['template']['spec'] & { terminationGracePeriodSeconds?: number };
  const grace = spec.terminationGracePeriodSeconds;
  return {
    pods: {
      deployment: d.metadata.name,
      terminationGracePeriodSeconds: grace ?? DEFAULT_TERMINATION_GRACE_S,
      defaulted: grace === undefined,
      containers: spec.containers.map((c) => {
        const hook = (c as { lifecycle?: { preStop?: PreStopHandler } }).lifecycle?.preStop;
        if (!hook) return { name: c.name, preStop: 'none' as const };
        if (hook.sleep) return { name: c.name, preStop: 'sleep' as const, ...(hook.sleep.seconds !== undefined ? { sleepSeconds: hook.sleep.seconds } : {}) };
        if (hook.exec) {
          const seconds = execSleepSeconds(hook.exec.command ?? []);
          return { name: c.name, preStop: 'exec' as const, ...(seconds !== undefined ? { sleepSeconds: seconds } : {}) };
        }
        return { name: c.name, preStop: 'httpGet' as const };
      }),
    },
  };
}

/** `["sleep", "5"]` or `["/bin/sh", "-c", "sleep 5"]` → 5; any other command → undefined (its duration is unknown). */
function execSleepSeconds(command: string[]): number | undefined {
  const line = command.length >= 3 && /(^|\/)(ba|da)?sh$/.test(command[0]) && command[1] === '-c' ? command.slice(2).join(' ') : command.join(' ');
  const m = /^\s*(?:\/bin\/|\/usr\/bin\/)?sleep\s+(\d+(?:\.\d+)?)s?\s*$/.exec(line);
  return m ? Number(m[1]) : undefined;
}
