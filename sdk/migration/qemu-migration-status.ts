import type { MigrationStatus } from '../qmp/index.ts';

/** ferry's view of QEMU's migration status (QEMU's list grows between versions). */
export type TransferState =
  | 'idle' | 'setting-up' | 'transferring' | 'switching-over' | 'postcopy' | 'completed' | 'cancelling' | 'cancelled' | 'failed' | 'unknown';

/** Maps every QEMU status onto ours; a status this version of ferry does not know is `unknown`, never a crash. */
export function transferState(status: MigrationStatus | string | undefined): TransferState {
  const known = status as MigrationStatus | undefined;
  switch (known) {
    case undefined:
    case 'none':
      return 'idle';
    case 'setup':
      return 'setting-up';
    case 'active':
    case 'wait-unplug':
      return 'transferring';
    case 'pre-switchover':
    case 'device':
      return 'switching-over';
    case 'postcopy-active':
    case 'postcopy-paused':
    case 'postcopy-recover-setup':
    case 'postcopy-recover':
      return 'postcopy';
    case 'completed':
      return 'completed';
    case 'cancelling':
      return 'cancelling';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
      return 'failed';
    case 'colo':
      return 'unknown';
    default: {
      const unexpected: never = known;
      void unexpected;
      return 'unknown';
    }
  }
}

/** The migration is over on this side, one way or the other. */
export function isTransferOver(state: TransferState): boolean {
  return state === 'completed' || state === 'cancelled' || state === 'failed';
}
