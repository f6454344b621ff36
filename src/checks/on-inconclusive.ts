/**
 * What a gate does when a check ends without a conclusive result (too little traffic, no data):
 * `pause` waits for a person (`zdd promote` / `zdd abort`) like a manual pause — the default, as
 * in Argo Rollouts, because "not enough evidence" is not "bad" — `rollback` treats it as a failure,
 * `pass` goes on with a warning.
 */
export const ON_INCONCLUSIVE = ['pause', 'rollback', 'pass'] as const;
export type OnInconclusive = (typeof ON_INCONCLUSIVE)[number];
export const DEFAULT_ON_INCONCLUSIVE: OnInconclusive = 'pause';

/** The sentence that says what was inconclusive and which choice applied. */
export function inconclusiveMessage(kind: 'Gate' | 'Analysis', gate: string, reason: string, choice: OnInconclusive, configured: boolean): string {
  const how = `onInconclusive: ${choice}${configured ? '' : ' (the default)'}`;
  const next =
    choice === 'pause'
      ? 'the deploy waits: run `zdd promote` to go on or `zdd abort` to roll back'
      : choice === 'pass'
        ? 'the deploy goes on'
        : 'the deploy rolls back';
  return `${kind} "${gate}" was inconclusive: ${reason}. ${how}, so ${next} (set gates.${gate}.onInconclusive to choose).`;
}
