/**
 * Exit codes scripts can rely on. Every failure maps to exactly one, and
 * only code 4 means the VM needs a person to look at it.
 */
export const EXIT = {
  ok: 0,
  /** The operation failed; the VM is where it was (running or paused on the source). */
  failed: 1,
  /** Bad usage or input: unknown host or VM, invalid option or config. Nothing was touched. */
  usage: 2,
  /** A host could not be reached (SSH connect, auth, host key). */
  unreachable: 3,
  /** The VM's state is unknown after a failure: check both hosts. */
  vmStateUnknown: 4,
  /** Cancelled or timed out; the VM is on the source. */
  cancelled: 5,
  /** Interrupted by Ctrl-C (after rolling back). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
