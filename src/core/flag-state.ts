/** A flag's state as deployment records keep it (before a run's first write, and as last read back); flags/ reads and writes flags. */

/** Limit the rollout to requests whose context field is (IN) or is not (NOT_IN) one of `values`. */
export interface FlagConstraint {
  contextName: string;
  operator: 'IN' | 'NOT_IN';
  values: string[];
}

/** A flag as its service reports it, read back from the service itself (never from zdd's records). */
export interface FlagState {
  flag: string;
  /** Where the flag lives: Unleash environment name, or the flag file's path. */
  environment: string;
  enabled: boolean;
  /** zdd's rollout percentage, or null when the flag has no rollout written by zdd. */
  rollout: number | null;
  stickiness: string;
  groupId: string;
  constraints: FlagConstraint[];
}
