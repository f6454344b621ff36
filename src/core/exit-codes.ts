/** Exit codes are a public contract (README, DESIGN.md section 5). Never renumber. */
export const ExitCode = {
  /** done */
  Ok: 0,
  /** deploy failed, rolled back, production on stable */
  RolledBack: 1,
  /** usage or config error, nothing changed */
  Usage: 2,
  /** lock held by another deploy, nothing changed */
  LockHeld: 3,
  /** rollback failed or not possible: production needs a person */
  NeedsPerson: 4,
  /** provider error before any change (credentials, permissions, missing resource) */
  ProviderBeforeChange: 5,
  /** --until-pause: the deploy stopped at a manual pause on purpose; `zdd promote` or `zdd abort` continues it */
  Paused: 6,
  /** interrupted; rolled back safely */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP = `Exit codes:
  0    done
  1    deploy failed, rolled back, production on stable
  2    usage or config error, nothing changed
  3    lock held by another deploy, nothing changed
  4    rollback failed or not possible: production needs a person (the message says what)
  5    provider error before any change (credentials, permissions, missing resource)
  6    --until-pause: stopped at a manual pause on purpose; \`zdd promote\` or \`zdd abort\` continues it
  130  interrupted; rolled back safely (4 if the rollback failed)`;
